package plan

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
)

// Dataflow's defaults for a Streaming Engine job launched from a Flex Template.
const (
	DefaultLauncherMachineType = "n1-standard-1"
	DefaultWorkerMachineType   = "n1-standard-2"
	DefaultMaxWorkers          = 100
)

// Start is what a deploy starts in one project and region: one launcher VM per launch
// (creates, recreates, replaces and in-place updates alike), paced by the project's
// launches_per_minute, and the new jobs' workers. During an in-place update the old job's
// workers run until the new job takes over, so an update needs its workers twice.
type Start struct {
	Project string `json:"project"`
	Region  string `json:"region"`
	// Launches is how many jobs the deploy launches here.
	Launches int `json:"launches"`
	// LaunchesPerMinute is the project's pace.
	LaunchesPerMinute int `json:"launches_per_minute"`
	// LauncherVMs and LauncherVCPUs are at most this many at once: the pace times a
	// launcher VM's life (fleet.LauncherVMMinutes), at most Launches.
	LauncherVMs   int `json:"launcher_vms"`
	LauncherVCPUs int `json:"launcher_vcpus"`
	// WorkerVCPUs is the new jobs' workers at their max_workers ceiling.
	WorkerVCPUs int `json:"worker_vcpus"`
	// Unknown lists machine types whose vCPUs are not known (not counted).
	Unknown []string `json:"unknown_machine_types,omitempty"`
}

// String is the plan's line for a location.
func (s Start) String() string {
	out := fmt.Sprintf("%s/%s: %d launches at %d/min: up to %d launcher VMs (%d vCPUs) at once; workers up to %d vCPUs",
		s.Project, s.Region, s.Launches, s.LaunchesPerMinute, s.LauncherVMs, s.LauncherVCPUs, s.WorkerVCPUs)
	if len(s.Unknown) > 0 {
		out += " (vCPUs of " + strings.Join(s.Unknown, ", ") + " unknown, not counted)"
	}
	return out
}

func starts(items []Item) []Start {
	byLoc := map[Location]*Start{}
	var locs []Location
	launchers := map[Location][]string{}
	for _, it := range items {
		switch it.Action {
		case Create, Recreate, Replace, Update:
		default:
			continue
		}
		l := Location{it.Project, it.Region}
		st, ok := byLoc[l]
		if !ok {
			st = &Start{Project: it.Project, Region: it.Region, LaunchesPerMinute: it.Desired.LaunchesPerMinute}
			byLoc[l] = st
			locs = append(locs, l)
		}
		st.Launches++
		st.LaunchesPerMinute = min(st.LaunchesPerMinute, it.Desired.LaunchesPerMinute)
		env := it.Desired.Environment
		launchers[l] = append(launchers[l], cmpOr(env.LauncherMachineType, DefaultLauncherMachineType))
		workers := cmpOr(env.MachineType, DefaultWorkerMachineType)
		n, known := VCPUs(workers)
		if !known && !slices.Contains(st.Unknown, workers) {
			st.Unknown = append(st.Unknown, workers)
		}
		maxWorkers := env.MaxWorkers
		if maxWorkers == 0 {
			maxWorkers = DefaultMaxWorkers
		}
		st.WorkerVCPUs += n * maxWorkers
	}
	var out []Start
	for _, l := range locs {
		st := byLoc[l]
		st.LauncherVMs = min(st.Launches, st.LaunchesPerMinute*fleet.LauncherVMMinutes)
		if st.LaunchesPerMinute <= 0 {
			st.LauncherVMs = st.Launches
		}
		// The largest launcher machines first: an upper bound.
		types := launchers[l]
		slices.SortFunc(types, func(a, b string) int { x, _ := VCPUs(a); y, _ := VCPUs(b); return y - x })
		for _, t := range types[:st.LauncherVMs] {
			n, known := VCPUs(t)
			if !known && !slices.Contains(st.Unknown, t) {
				st.Unknown = append(st.Unknown, t)
			}
			st.LauncherVCPUs += n
		}
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b Start) int { return strings.Compare(a.Project+"/"+a.Region, b.Project+"/"+b.Region) })
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var (
	machineRe = regexp.MustCompile(`^[a-z][a-z0-9]*-[a-z]+-([0-9]+)(?:-[a-z]+)?$`)
	customRe  = regexp.MustCompile(`^(?:[a-z][a-z0-9]*-)?custom-([0-9]+)-[0-9]+(?:-ext)?$`)
)

// VCPUs returns the vCPUs a Compute Engine machine type counts against the CPU quota:
// the number at the end of a predefined type (n2-standard-4: 4), the first of a custom
// one (custom-6-23040: 6), 2 for the shared-core e2 types and 1 for f1/g1.
func VCPUs(machineType string) (int, bool) {
	switch machineType {
	case "e2-micro", "e2-small", "e2-medium":
		return 2, true
	case "f1-micro", "g1-small":
		return 1, true
	}
	for _, re := range []*regexp.Regexp{customRe, machineRe} {
		if m := re.FindStringSubmatch(machineType); m != nil {
			n, err := strconv.Atoi(m[1])
			return n, err == nil
		}
	}
	return 0, false
}
