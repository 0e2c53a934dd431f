#!/usr/bin/env bash
# A real single-node SLURM on loopback for tests (DESIGN.md §4.7): Debian's munge,
# slurmctld and slurmd with a config of our own in DIR; `start DIR CPUS` waits until the node is idle and
# prints the SLURM_CONF to export; `stop DIR` stops what start started (by pid files). Needs root.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?state directory}
conf="$dir/slurm.conf"
case "$cmd" in
start)
  cpus=${3:-4}
  for b in munged slurmctld slurmd sinfo; do
    command -v "$b" > /dev/null || { echo "local_cluster: $b not installed (apt-get install munge slurmctld slurmd slurm-client)" >&2; exit 77; }
  done
  [ "$(id -u)" -eq 0 ] || { echo "local_cluster: needs root (slurmd, SlurmUser=root)" >&2; exit 77; }
  mkdir -p "$dir"/{state,spool,log,munge}
  # munge: its own socket and key in DIR, run as the munge user (as root it refuses the key)
  chown munge: "$dir/munge"; chmod 700 "$dir/munge"
  if [ ! -s "$dir/munge/munge.key" ]; then
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chown munge: "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"
  fi
  sock="$dir/munge/munge.socket"
  runuser -u munge -- munged --key-file="$dir/munge/munge.key" --socket="$sock" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" -f
  host=$(hostname -s)
  cat > "$conf" <<CONF
ClusterName=ebgan-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=$((16817 + RANDOM % 1000))
SlurmdPort=$((17818 + RANDOM % 1000))
AuthType=auth/munge
AuthInfo=socket=$sock,cred_expire=10
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerParameters=sched_interval=2,bf_interval=2,sched_min_interval=0
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
KillWait=10
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$conf"
  slurmctld -f "$conf"
  slurmd -f "$conf"
  for i in $(seq 1 100); do
    state=$(sinfo -h -o %T 2>/dev/null | head -1 || true)
    [ "$state" = idle ] && { echo "SLURM_CONF=$conf"; exit 0; }
    sleep 0.2
  done
  echo "local_cluster: the node did not become idle (state '$state'); logs in $dir/log" >&2
  exit 1
  ;;
stop)
  export SLURM_CONF="$conf"
  [ -f "$conf" ] && scancel --full --quiet -u root 2>/dev/null || true
  for p in slurmd slurmctld munge/munged; do
    f="$dir/$p.pid"
    if [ -f "$f" ]; then
      pid=$(cat "$f"); kill "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  ;;
*) echo "usage: $0 start|stop DIR [CPUS]" >&2; exit 2 ;;
esac
