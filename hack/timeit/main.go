// Command timeit runs commands interleaved, N rounds, and prints each
// one's median wall time in seconds, one per line, in the order given:
//
//	timeit -n 21 -- cmd1 arg ... -- cmd2 arg ...
//
// It execs the commands itself (no shell), stdin /dev/null and output
// discarded, so the figures carry no shell start-up. The first round is a
// warm-up and is not counted. A failing command stops it (exit 1). A
// short pause (-gap) comes before each command.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"time"
)

func main() {
	n := flag.Int("n", 21, "rounds")
	gap := flag.Duration("gap", 100*time.Millisecond, "pause before each command, so that what one leaves running (podman's cleanup) does not slow the next")
	flag.Parse()
	var cmds [][]string
	for _, a := range flag.Args() {
		if a == "--" {
			cmds = append(cmds, nil)
			continue
		}
		if len(cmds) == 0 {
			cmds = append(cmds, nil)
		}
		cmds[len(cmds)-1] = append(cmds[len(cmds)-1], a)
	}
	times := make([][]time.Duration, len(cmds))
	for round := 0; round <= *n; round++ {
		for k := range cmds {
			// Rotate the order so no command always follows another.
			i := (k + round) % len(cmds)
			c := exec.Command(cmds[i][0], cmds[i][1:]...)
			time.Sleep(*gap)
			t := time.Now()
			out, err := c.CombinedOutput()
			d := time.Since(t)
			if err != nil {
				fmt.Fprintf(os.Stderr, "timeit: %v: %v\n%s", cmds[i], err, out)
				os.Exit(1)
			}
			if round > 0 {
				times[i] = append(times[i], d)
			}
		}
	}
	for _, ts := range times {
		sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
		fmt.Printf("%.4f\n", ts[len(ts)/2].Seconds())
	}
}
