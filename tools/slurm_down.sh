#!/usr/bin/env bash
# Stop the single-node Slurm cluster of tools/slurm_up.sh: cancel its jobs, stop slurmctld and slurmd
# (scontrol shutdown), then munged, each by the process id in its pid file. The packages, the config and
# the logs (/var/log/slurm/) stay; tools/slurm_up.sh starts it again in seconds. Exits 0 when nothing runs.
set -uo pipefail

wait_gone() {  # wait_gone PID: up to 20 s for the process to exit
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.2
  done
  return 1
}

stop_pidfile() {  # stop_pidfile FILE: SIGTERM the process named in FILE, then wait for it
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    wait_gone "$pid" || kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$1"
}

if command -v scontrol >/dev/null && [ -f /run/slurmctld.pid ] && kill -0 "$(cat /run/slurmctld.pid)" 2>/dev/null; then
  timeout 10 scancel --full --user=root >/dev/null 2>&1 || true
  timeout 10 scontrol shutdown >/dev/null 2>&1 || true
fi
stop_pidfile /run/slurmd.pid
stop_pidfile /run/slurmctld.pid
stop_pidfile /run/munge/munged.pid
echo "slurm_down: stopped"
