package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

func TestWithoutCommentsAndPartnerComments(t *testing.T) {
	it := item.Item{Comments: []item.Comment{{ID: "1"}, {ID: "2"}, {ID: "3"}}}
	tw := twin{Comments: map[string]string{"p9": "2"}}
	got := withoutComments(it, tw.partnerComments())
	if len(got.Comments) != 2 || got.Comments[0].ID != "1" || got.Comments[1].ID != "3" {
		t.Errorf("withoutComments: got %+v, want comments 1 and 3", got.Comments)
	}
	if len(it.Comments) != 3 {
		t.Errorf("withoutComments changed its input: %+v", it.Comments)
	}
	if (twin{}).partnerComments() != nil {
		t.Errorf("a twin without partner comments: want a nil set")
	}
	if same := withoutComments(it, nil); len(same.Comments) != 3 {
		t.Errorf("withoutComments with nothing to drop: got %+v", same.Comments)
	}
}

func TestMergeIntoAppliesWrittenFieldsAndComments(t *testing.T) {
	tests := []struct {
		name string
		p    plan
		w    Write
		res  WriteResult
		want item.Item
	}{
		{
			name: "create takes the written item without comments",
			w:    Write{Item: item.Item{Title: "t", Status: "open", Comments: []item.Comment{{ID: "p1", Body: "b"}}}, NewComments: []item.Comment{{ID: "p1", Body: "b"}}},
			res:  WriteResult{Key: "K-1", CommentIDs: []string{"7"}},
			want: item.Item{Key: "K-1", Title: "t", Status: "open", Comments: []item.Comment{{ID: "7", Body: "b"}}},
		},
		{
			name: "update writes only the named fields",
			p:    plan{current: item.Item{Key: "K-2", Title: "old", Status: "open", Priority: "low"}},
			w:    Write{Key: "K-2", Item: item.Item{Title: "new", Status: "closed", Priority: "high"}, Fields: []string{item.FieldTitle, item.FieldPriority}},
			res:  WriteResult{Key: "K-2"},
			want: item.Item{Key: "K-2", Title: "new", Status: "open", Priority: "high"},
		},
		{
			name: "comments without an id are left out",
			p:    plan{current: item.Item{Key: "K-3", Comments: []item.Comment{{ID: "1"}}}},
			w:    Write{Key: "K-3", NewComments: []item.Comment{{Body: "a"}, {Body: "b"}}},
			res:  WriteResult{Key: "K-3", CommentIDs: []string{"2"}},
			want: item.Item{Key: "K-3", Comments: []item.Comment{{ID: "1"}, {ID: "2", Body: "a"}}},
		},
	}
	for _, tc := range tests {
		p := tc.p
		mergeInto(&p, tc.w, tc.res)
		if !reflect.DeepEqual(p.current, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, p.current, tc.want)
		}
	}
}

// sumsLike gives exactly sumsOf, whichever fields the two items share.
func TestSumsLikeIsSumsOf(t *testing.T) {
	base := item.Item{Title: "t", Description: "d", Status: "open", Priority: "high", Labels: []string{"a"},
		Assignee: item.User{Name: "Jo"}, Custom: map[string]string{"site": "HQ", "team": ""}}
	for name, change := range map[string]func(*item.Item){
		"same":           func(*item.Item) {},
		"title":          func(it *item.Item) { it.Title = "other" },
		"labels emptied": func(it *item.Item) { it.Labels = []string{} },
		"labels nil":     func(it *item.Item) { it.Labels = nil },
		"assignee":       func(it *item.Item) { it.Assignee = item.User{Name: "Al"} },
		"custom added":   func(it *item.Item) { it.Custom = map[string]string{"site": "HQ", "new": "x"} },
		"custom dropped": func(it *item.Item) { it.Custom = nil },
		"key and times":  func(it *item.Item) { it.Key, it.Created = "RED-1", time.Now() },
		"everything":     func(it *item.Item) { *it = item.Item{Title: "x", Status: "closed"} },
	} {
		it := base.Clone()
		change(&it)
		if got, want := sumsLike(it, base, sumsOf(base)), sumsOf(it); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: sumsLike = %v, sumsOf = %v", name, got, want)
		}
	}
}
