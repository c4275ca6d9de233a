package rt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tandemsync/tandem/core/item"
)

// Priorities. RT keeps a number, 0 to 100 by default, and names Low 0, Medium 50, High 100
// (RT 5's PriorityAsString). Reading: below 25 is low, below 75 medium, else high; so a
// partner's low/medium/high survive a round trip. Writing: lowest and low are 0, medium
// and normal 50, high, highest, urgent and critical 100; a number is written as it is.
const (
	PriorityLow    = "low"
	PriorityMedium = "medium"
	PriorityHigh   = "high"
)

func priorityName(n int) string {
	switch {
	case n < 25:
		return PriorityLow
	case n < 75:
		return PriorityMedium
	default:
		return PriorityHigh
	}
}

func priorityNumber(name string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "lowest", "low", "minor", "trivial":
		return 0, nil
	case "medium", "normal", "":
		return 50, nil
	case "high", "highest", "urgent", "critical", "major", "blocker":
		return 100, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(name))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("priority %q is not low, medium, high or a number RT understands", name)
	}
	return n, nil
}

// Statuses are RT's own names (new, open, stalled, resolved, rejected, deleted, or those of
// a custom lifecycle), read and written unchanged: the rules map them to a partner's.

// nobody is RT's name for "no owner".
const nobody = "Nobody"

// rtUser is a user as REST 2 expands it with fields[X]=Name,RealName,EmailAddress.
type rtUser struct {
	ID           string `json:"id"`
	Name         string `json:"Name"`
	RealName     string `json:"RealName"`
	EmailAddress string `json:"EmailAddress"`
}

func (u rtUser) item() item.User {
	id := u.Name
	if id == "" {
		id = u.ID
	}
	if id == "" || id == nobody {
		return item.User{}
	}
	name := u.RealName
	if name == "" {
		name = id
	}
	return item.User{ID: id, Name: name, Email: u.EmailAddress}
}

// ownerValue is what RT takes as Owner for u: its login, else its email, else Nobody.
func ownerValue(u item.User) string {
	switch {
	case u.ID != "":
		return u.ID
	case u.Email != "":
		return u.Email
	}
	return nobody
}
