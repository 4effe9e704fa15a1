#ifndef USANDBOX_NSEXEC_H
#define USANDBOX_NSEXEC_H
#include <stdint.h>

// Keep in sync with nsexec.go.
#define NSEXEC_ENV "_USANDBOX_NSEXEC"
#define NSEXEC_EXIT_FAILED 125

// Modes (the third field of NSEXEC_ENV).
#define NSEXEC_MODE_PLAIN 0   // the copy runs Go in the namespaces
#define NSEXEC_MODE_FORK 1    // fork once more, into the new/joined pid namespace
#define NSEXEC_MODE_SANDBOX 2 // keeper, C init as pid 1, Go setup as pid 2

// Message kinds.
#define NSEXEC_MAP_ME 'U'
#define NSEXEC_MAPPED 'M'
#define NSEXEC_ABORT 'X'
#define NSEXEC_CHILD_PID 'P'
#define NSEXEC_ERROR 'E'

// Steps named in an error message.
#define NSEXEC_STEP_PDEATHSIG 'd'
#define NSEXEC_STEP_USERNS 'u'
#define NSEXEC_STEP_SETID 'i'
#define NSEXEC_STEP_UNSHARE 'n'
#define NSEXEC_STEP_FORK 'f'
#define NSEXEC_STEP_JOIN 'j'
#define NSEXEC_STEP_INIT 's'

// The byte the parent writes on the init's lifeline once the init may go
// on (it is in its cgroup).
#define NSEXEC_LIFELINE_GO 'g'

struct nsexec_msg {
	char kind;
	char step;
	char pad[2];
	int32_t value;
};

#endif
