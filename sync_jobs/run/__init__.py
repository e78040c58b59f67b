"""Running jobs: stage 1 (read, map, match, queue), stage 2 (plan, write, record), the runner
and the timer, with their dependencies passed in."""
