// Package seccomp gives every sandbox docker's default seccomp profile
// (or a docker-format JSON profile, or none), so that a sandboxed command
// meets the same system-call policy it would meet under docker: blocked
// calls fail with EPERM, calls newer than the profile with ENOSYS (so
// programs fall back to older calls instead of taking EPERM as a denial),
// and the 32-bit x86 and x32 entry points are covered too.
//
// The work is split between the host side and the sandbox's setup process.
// [Compile] turns a [Profile] and a capability set into a [Program], the
// final classic-BPF filter, without installing it anywhere; the program is
// plain bytes ([Program.MarshalBinary]) that the parent sends to the
// sandbox. [Load] installs it on the calling thread with the raw
// seccomp(2) system call, right before the command's execve; it needs
// neither libseccomp nor cgo. [Cache] keeps compiled programs on disk so
// that warm starts skip libseccomp's compile cost.
//
// # How a program is compiled without being loaded
//
// The policy comes from github.com/moby/profiles/seccomp (docker's default
// profile as Go data; it loads docker-format JSON and resolves the
// capability, architecture and kernel conditions) and the filter from
// runc's libcontainer/seccomp (libseccomp plus runc's -ENOSYS patch,
// package patchbpf). runc exports only "compile and load"
// (seccomp.InitSeccomp, patchbpf.PatchAndLoad); the patched program itself
// is never returned. Rather than re-implementing runc's patch, Compile
// runs runc's InitSeccomp unchanged on a throwaway OS thread that first
// installs a small filter of its own: seccomp(SECCOMP_SET_MODE_FILTER) and
// prctl(PR_SET_SECCOMP) on that thread are sent to a user-space listener
// (SECCOMP_RET_USER_NOTIF) served by another thread of this process. The
// listener copies the sock_fprog runc is about to install (and the filter
// flags) out of the blocked thread's memory, then fails the call, so
// nothing is installed. The thread (which also carries no_new_privs) is
// never unlocked, so the Go runtime ends it. The result is the program
// runc would have loaded; the filter flags (SECCOMP_FILTER_FLAG_*), which
// never change the program, are kept aside and given to [Load]. runc's
// -ENOSYS stub lists the architectures in Go map order, so two compiles
// of one profile may differ in bytes while meaning the same; a [Cache]
// keeps whichever came first. This needs Linux ≥ 5.5 (user
// notification with SECCOMP_USER_NOTIF_FLAG_CONTINUE) and fails with
// EBUSY if this process already runs under a seccomp filter that has a
// listener.
//
// # Build requirements
//
// The package must be built with cgo and the "seccomp" build tag, with
// libseccomp's headers and static library installed (Debian's
// libseccomp-dev). Without the tag, runc silently compiles a stub that
// fails at run time; this package refuses to compile instead.
package seccomp
