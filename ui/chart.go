package ui

import (
	"image"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tandemsync/tandem/core/agent"
)

// chartSeries is what a throughput chart draws: events synced (sent or applied) and events
// failed, per step, ending now.
type chartSeries struct {
	title string
	step  time.Duration
	tally []agent.HistoryTally
}

// chartStyle are the colours a chart is drawn in, from the app's theme.
type chartStyle struct {
	fg, grid, synced, failed color.Color
}

// renderChart draws a throughput chart with gonum/plot into an image of w x h pixels.
func renderChart(s chartSeries, st chartStyle, w, h int) (image.Image, error) {
	p := plot.New()
	p.BackgroundColor = color.Transparent
	p.Title.Text = s.title
	p.Title.TextStyle.Color = st.fg
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Color, a.Label.TextStyle.Color, a.Tick.Color, a.Tick.Label.Color = st.fg, st.fg, st.fg, st.fg
	}
	n := len(s.tally)
	p.Y.Label.Text = "events per " + stepName(s.step)
	p.X.Min, p.X.Max = float64(-n), 0
	p.Y.Min = 0
	p.X.Tick.Marker = agoTicks{step: s.step}
	synced, failed := make(plotter.XYs, n), make(plotter.XYs, n)
	top := 1.0
	for i, t := range s.tally {
		x := float64(i - n + 1)
		synced[i] = plotter.XY{X: x, Y: float64(t.Synced())}
		failed[i] = plotter.XY{X: x, Y: float64(t.Failed)}
		top = max(top, float64(t.Synced()), float64(t.Failed))
	}
	p.Y.Max = top * 1.1
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = st.grid, st.grid
	p.Add(grid)
	for _, l := range []struct {
		name string
		xys  plotter.XYs
		c    color.Color
	}{{"synced", synced, st.synced}, {"failed", failed, st.failed}} {
		line, err := plotter.NewLine(l.xys)
		if err != nil {
			return nil, err
		}
		line.Color, line.Width = l.c, vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(l.name, line)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Color = st.fg
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(w)*vg.Inch/96, vg.Length(h)*vg.Inch/96), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.Transparent))
	p.Draw(draw.New(c))
	return c.Image(), nil
}

func stepName(d time.Duration) string {
	switch d {
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return trimDuration(d.String())
}

// agoTicks labels the x axis in time before now.
type agoTicks struct{ step time.Duration }

func (a agoTicks) Ticks(min, max float64) []plot.Tick {
	span := max - min
	every := 10.0
	if span > 40 {
		every = span / 4
	}
	var out []plot.Tick
	for x := 0.0; x >= min; x -= every {
		label := "now"
		if x < 0 {
			label = "-" + (time.Duration(-x) * a.step).String()
		}
		out = append(out, plot.Tick{Value: x, Label: trimDuration(label)})
	}
	return out
}

// trimDuration writes 1h0m0s as 1h and 30m0s as 30m.
func trimDuration(s string) string {
	for _, suffix := range []string{"m0s", "h0m"} {
		if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
			s = s[:len(s)-len(suffix)+1]
		}
	}
	return s
}
