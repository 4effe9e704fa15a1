#!/bin/bash
# Experiment 8: does what a sandbox mounts still work when its user
# namespace is a grandchild of the host's (a child of the network user
# namespace)? Native overlay (userxattr) over host-owned and sub-ID-owned
# dirs, proc in a new pid ns, sysfs (needs the netns owned by this userns),
# tmpfs, devpts, mqueue.
set -u
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
holder net1 10.89.0; h=$(cat $D/net1.pid)
B=${OVL_DIR:-$D/ovl}; rm -rf $B 2>/dev/null; mkdir -p $B/{lower,upper,work,merged}; echo hi > $B/lower/f
nsenter -U -t $h -- chown -R 100:100 $B   # sub-ID owned, as a store's layers are
nsenter -U -t $h -- $NSMK -m -- sh -c "
  cat /proc/self/uid_map | tr -s ' ' | tr '\n' ';'; echo
  mount -t overlay overlay -o lowerdir=$B/lower,upperdir=$B/upper,workdir=$B/work,userxattr $B/merged && echo 'overlay: ok' && echo new > $B/merged/g && ls -ln $B/merged | tail -2
  unshare -pf --mount-proc sh -c 'echo proc in new pidns: ok, pid \$\$'
  mkdir -p $B/sys && mount -t sysfs sysfs $B/sys && echo 'sysfs: ok'
  mount -t tmpfs tmpfs $B/sys && echo 'tmpfs: ok'
  mkdir -p $B/pts && mount -t devpts -o newinstance,ptmxmode=0666 devpts $B/pts && echo 'devpts: ok'
  mkdir -p $B/mq && unshare -i sh -c 'mount -t mqueue mqueue $B/mq && echo mqueue: ok'
"
nsenter -U -t $h -- rm -rf $B
