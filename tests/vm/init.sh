#!/bin/sh
# PID 1 of the kernel-matrix VM: run the detector in each attach mode against
# real self-connects, then once against a listener and servers refused a
# held port, then with the guard against unbound connect loops,
# then the kernel facts; print its JSON between markers, power off. With
# sc_steps=noop or sc_steps=none on the kernel command line it makes the same
# self-connects with only the do-nothing program on the classic tracepoint,
# or with nothing attached: the controls for a fault seen in a VM.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "VM-KERNEL $(uname -r)"
# What a Debian host loads on first use (no modprobe here): sock_diag for
# TCP (the start scan reads listeners and self-connects through it), and
# clsact and cls_bpf for the guard's tc filter before 6.6 (a kernel that
# builds them in has no file for them).
# From 6.6 the guard uses tcx, built in: the two are not loaded there
# (each module loaded patches kernel text, which the emulator does not
# always take well, see run-kernel).
modules="inet_diag tcp_diag"
case "$(uname -r)" in
  5.*|6.[0-5].*) modules="$modules sch_ingress cls_bpf" ;;
esac
for m in $modules; do
  [ -f /modules/$m.ko ] || continue
  insmod /modules/$m.ko || echo "VM-ERROR insmod $m"
done
/bin/vm-self-connects lo-up || echo "VM-ERROR lo"
# Until the watcher started last ($pid, stderr in $err) says it is ready,
# or exits, or two minutes pass.
wait_ready() {
  i=0
  while ! grep -q ready "$err" 2>/dev/null && kill -0 $pid 2>/dev/null && [ $i -lt 1200 ]; do
    sleep 0.1; i=$((i + 1))
  done
}
steps=$(sed -n 's/.*sc_steps=\([a-z]*\).*/\1/p' /proc/cmdline)
case "$steps" in
  noop|none)
    echo "VM-BEGIN $steps"
    if [ "$steps" = noop ]; then /bin/vm-self-connects 20202 noop-tracepoint; else /bin/vm-self-connects 20202; fi |
      sed 's/^/VM-LOG /'
    echo "VM-END $steps"
    poweroff -f
    ;;
esac
for mode in auto tracepoint; do
  echo "VM-BEGIN $mode"
  # Files of this pass only, empty before the watcher starts: the wait below
  # must never see the previous pass's "ready".
  out=/tmp/out.$mode err=/tmp/err.$mode
  : >"$out"; : >"$err"
  /bin/selfconnect watch --json --count 3 --port 20202 --attach-mode "$mode" >"$out" 2>"$err" &
  pid=$!
  wait_ready
  sed 's/^/VM-STDERR /' "$err"
  /bin/vm-self-connects 20202 | sed 's/^/VM-LOG /'
  i=0
  while kill -0 $pid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  kill $pid 2>/dev/null
  wait $pid
  echo "VM-EXIT $mode $?"
  sed 's/^/VM-JSON /' "$out"
  sed 's/^/VM-STDERR /' "$err" | tail -n +2
  echo "VM-END $mode"
done
# Losses after the capability drop, with the kernel's own
# kernel.unprivileged_bpf_disabled: a ring of one page and a burst of
# self-connects; every one is reported, folded into a self_connect_repeats
# record (one command on one port) or counted lost.
echo "VM-BEGIN losses"
echo "VM-LOG kernel.unprivileged_bpf_disabled=$(cat /proc/sys/kernel/unprivileged_bpf_disabled)"
out=/tmp/out.losses err=/tmp/err.losses
: >"$out"; : >"$err"
/bin/selfconnect watch --json --ring-buffer-size 4096 --port 20303 >"$out" 2>"$err" &
pid=$!
wait_ready
/bin/vm-self-connects burst 20303 3000 | sed 's/^/VM-LOG /'
sleep 2
kill -INT $pid 2>/dev/null
wait $pid
echo "VM-EXIT losses $?"
echo "VM-DETECTED $(grep -c '"type":"self_connect"' "$out")"
echo "VM-FOLDED $(grep '"type":"self_connect_repeats"' "$out" | sed 's/.*"repeats":\([0-9]*\).*/\1/' | awk '{ n += $1 } END { print n + 0 }')"
sed 's/^/VM-STDERR /' "$err"
echo "VM-END losses"
# Prevention records: a listener at risk, and servers refused a held port,
# through the bind() and listen() hooks each attach mode chooses (fexit
# where the kernel has trampolines, the syscall tracepoints in tracepoint
# mode).
for mode in auto tracepoint; do
  echo "VM-BEGIN prevention-$mode"
  out=/tmp/out.prevention-$mode err=/tmp/err.prevention-$mode
  : >"$out"; : >"$err"
  /bin/selfconnect watch --json --port 40800 --attach-mode "$mode" >"$out" 2>"$err" &
  pid=$!
  wait_ready
  /bin/vm-self-connects port-conflict 40800 | sed 's/^/VM-LOG /'
  sleep 2
  kill -INT $pid 2>/dev/null
  wait $pid
  echo "VM-EXIT prevention-$mode $?"
  sed 's/^/VM-JSON /' "$out"
  sed 's/^/VM-STDERR /' "$err"
  echo "VM-END prevention-$mode"
done
# What watching costs an unrelated system call: getppid() loops without a
# watcher, with the default one, and with one in tracepoint mode (the
# syscall tracepoints: the slow path for every thread), taking turns twice
# (every step is one more chance for the emulator to fault, see
# run-kernel). Printed, never asserted (figures under emulation, where the
# watcher's own threads share the one CPU); the hooks chosen are checked.
echo "VM-BEGIN syscalls"
for rep in 1 2; do
  /bin/vm-self-connects syscall-cost 100000 | sed 's/^/VM-LOG without /'
  for mode in auto tracepoint; do
    out=/tmp/out.syscalls err=/tmp/err.syscalls
    : >"$out"; : >"$err"
    /bin/selfconnect watch --json --attach-mode $mode >"$out" 2>"$err" &
    pid=$!
    wait_ready
    /bin/vm-self-connects syscall-cost 100000 | sed "s/^/VM-LOG with-$mode /"
    kill -INT $pid 2>/dev/null
    wait $pid
    grep ready "$err" | sed 's/^/VM-STDERR /'
  done
done
echo "VM-END syscalls"
# The guard: unguarded loops that meet themselves (the control), then the
# same loops in a namespace of their own under --require-guard (on the
# namespace's loopback: tcx from 6.6, a tc filter before).
echo "VM-BEGIN guard"
mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup
/bin/vm-self-connects loop 40900 100 | sed 's/^/VM-LOG control /'
out=/tmp/out.guard err=/tmp/err.guard
: >"$out"; : >"$err"
/bin/selfconnect watch --json --require-guard >"$out" 2>"$err" &
pid=$!
wait_ready
/bin/vm-self-connects loop 40920 1000 | sed 's/^/VM-LOG guarded /'
sleep 1
kill -INT $pid 2>/dev/null
wait $pid
echo "VM-EXIT guard $?"
grep -e '"type":"self_connect_prevented"' -e '"type":"guard_missed"' "$out" | sed 's/^/VM-JSON /'
sed 's/^/VM-STDERR /' "$err"
echo "VM-END guard"
# The kernel facts (kernel_facts_test.cpp): every fact read from a kernel
# structure, compared with the truth, in both attach modes.
echo "VM-BEGIN facts"
SELFCONNECT_BINARY=/bin/selfconnect /bin/kernel-facts 2>&1 | sed 's/^/VM-FACT /'
echo "VM-END facts"
poweroff -f
