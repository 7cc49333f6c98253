#!/usr/bin/env bash
# Stop the single-node Slurm cluster of tools/slurm_up.sh: cancel its jobs and wait for them to leave
# the queue (a job step that ends after slurmctld has stopped would wait for it forever), stop slurmctld
# and slurmd (scontrol shutdown), then munged, each by the process id in its pid file. The packages, the
# config and the logs (/var/log/slurm/) stay; tools/slurm_up.sh starts it again in seconds. Exits 0.
set -uo pipefail

wait_gone() {  # wait_gone PID: up to 20 s for the process to exit
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.2
  done
  return 1
}

stop_pid() {  # stop_pid PID: wait for it to exit (after scontrol shutdown), else SIGTERM, then SIGKILL
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
  wait_gone "$1" && return 0
  kill "$1" 2>/dev/null
  wait_gone "$1" || kill -9 "$1" 2>/dev/null
}

pid_of() { [ -f "$1" ] && cat "$1"; }

ctld=$(pid_of /run/slurmctld.pid)
slurmd=$(pid_of /run/slurmd.pid)
munged=$(pid_of /run/munge/munged.pid)
if [ -n "$ctld" ] && kill -0 "$ctld" 2>/dev/null && command -v scontrol >/dev/null; then
  timeout 10 scancel --user=root >/dev/null 2>&1 || true
  for _ in $(seq 60); do  # up to 30 s for the cancelled jobs to finish completing
    [ -z "$(timeout 10 squeue --noheader --user=root 2>/dev/null)" ] && break
    sleep 0.5
  done
  timeout 10 scontrol shutdown >/dev/null 2>&1 || kill "$ctld" 2>/dev/null
fi
stop_pid "$slurmd"
stop_pid "$ctld"
[ -n "$munged" ] && kill "$munged" 2>/dev/null
stop_pid "$munged"
rm -f /run/slurmd.pid /run/slurmctld.pid
echo "slurm_down: stopped"
