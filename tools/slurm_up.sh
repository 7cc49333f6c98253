#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for tests/test_slurm.py (docs/scale-out.md).
#
#   tools/slurm_up.sh     install (Debian packages slurmctld slurmd slurm-client munge, apt-get,
#                         non-interactive) when missing, write /etc/slurm/slurm.conf, start munged,
#                         slurmctld and slurmd, and wait until `sinfo` shows the node idle.
#   tools/slurm_down.sh   stop the three daemons again.
#
# The cluster: one node, NodeName=localhost, with the CPUs, sockets and memory that `slurmd -C` reads off
# this machine; one partition, `debug`, the default; no accounting database (sacct is not needed: the
# launcher follows its jobs with squeue), no cgroups (containers lack them): proctrack/linuxproc,
# task/none. KillWait=0: a cancelled job's processes get SIGKILL right after SIGTERM (submitit's jobs
# ignore SIGTERM, and a test that cancels a job wants it gone at once).
# The daemons run as root, their logs go to /var/log/slurm/.
#
# Exit codes: 0 the node is idle (the last line says "started" or "already up"); 3 Slurm cannot run
# here, the reason on stderr (not root, no apt-get, the packages cannot be installed, a daemon does not
# come up); 1 anything else. Needs root; the install takes a minute or two on a fresh Debian machine.
set -uo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
LOGS=/var/log/slurm
PACKAGES=(slurmctld slurmd slurm-client munge)

cannot() {  # Slurm cannot run here: say why, exit 3
  echo "slurm_up: Slurm cannot run here: $*" >&2
  exit 3
}

node_state() { timeout 10 sinfo -h -n localhost -o %T 2>/dev/null | head -n1; }

if [ "$(id -u)" != 0 ]; then
  cannot "needs root (to install the packages and start munged, slurmctld and slurmd), running as $(id -un)"
fi

# ------------------------------------------------------------------------------------------- install
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || cannot "the packages ${missing[*]} are missing and there is no apt-get"
  export DEBIAN_FRONTEND=noninteractive
  echo "slurm_up: installing ${missing[*]}" >&2
  apt_install() {
    apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}" \
      >/tmp/slurm_up.apt.log 2>&1
  }
  if ! apt_install; then  # a fresh machine may have no package lists yet
    apt-get update -q >>/tmp/slurm_up.apt.log 2>&1 || true
    apt_install || cannot "apt-get install ${missing[*]} failed: $(tail -n 3 /tmp/slurm_up.apt.log | tr '\n' ' ')"
  fi
fi
for bin in munged slurmctld slurmd sinfo sbatch srun squeue scancel scontrol; do
  command -v "$bin" >/dev/null || cannot "$bin is not on PATH after installing ${PACKAGES[*]}"
done

# ---------------------------------------------------------------------------------------------- munge
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- munged || cannot "munged does not start: $(tail -n 3 /var/log/munge/munged.log 2>/dev/null | tr '\n' ' ')"
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.2
  done
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || cannot "munge cannot encode and decode a credential"
fi

# ---------------------------------------------------------------------------------------------- Slurm
# The node as slurmd sees this machine (CPUs, sockets, cores, threads, memory), renamed localhost.
hardware=$(slurmd -C 2>/dev/null | head -n1 | sed -E 's/^NodeName=[^ ]+ //')
case "$hardware" in
  *CPUs=*RealMemory=*) ;;
  *) cannot "slurmd -C does not describe this machine (got: '$hardware')" ;;
esac
mkdir -p "$CONF_DIR" "$LOGS" /var/spool/slurmctld /var/spool/slurmd
new_conf=$(cat <<EOF
# written by tools/slurm_up.sh: a single-node test cluster (tests/test_slurm.py)
ClusterName=mcwes-test
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=0
SlurmctldTimeout=30
SlurmdTimeout=60
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
)

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$new_conf" ]; then
  if running /run/slurmctld.pid && running /run/slurmd.pid && [ "$(node_state)" = idle ]; then
    echo "slurm_up: already up"
    exit 0
  fi
else  # another configuration: restart the Slurm daemons (munged stays)
  for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    if running "$pidfile"; then
      pid=$(cat "$pidfile")
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
fi
printf '%s\n' "$new_conf" >"$CONF"
if ! running /run/slurmctld.pid; then
  slurmctld || cannot "slurmctld does not start: $(tail -n 3 $LOGS/slurmctld.log 2>/dev/null | tr '\n' ' ')"
fi
if ! running /run/slurmd.pid; then
  slurmd -N localhost || cannot "slurmd does not start: $(tail -n 3 $LOGS/slurmd.log 2>/dev/null | tr '\n' ' ')"
fi

state=""
SECONDS=0
while [ $SECONDS -lt 60 ]; do
  state=$(node_state)
  case "$state" in
    idle) echo "slurm_up: started (node localhost: $hardware)"; exit 0 ;;
    down*|drain*|drained*|fail*)  # left down by an earlier run: bring it back
      scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
reason=$(timeout 10 sinfo -h -R -n localhost -o '%E' 2>/dev/null | head -n1)
cannot "the node is not idle after 60 s (state '${state:-unknown}'${reason:+, reason: $reason}); slurmctld: \
$(tail -n 2 $LOGS/slurmctld.log 2>/dev/null | tr '\n' ' ') slurmd: $(tail -n 2 $LOGS/slurmd.log 2>/dev/null | tr '\n' ' ')"
