// sc-deny-syscall NAME PROGRAM [ARGS...]: runs PROGRAM under a seccomp
// filter that refuses one system call (bpf or setns) with EPERM, as a
// container runtime's default profile refuses bpf() to a process without
// CAP_SYS_ADMIN. Everything else is allowed.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv)
{
    const long nr = argc < 3 ? -1 : std::strcmp(argv[1], "bpf") == 0 ? __NR_bpf
                                   : std::strcmp(argv[1], "setns") == 0 ? __NR_setns
                                                                         : -1;
    if (nr < 0) {
        std::fprintf(stderr, "usage: sc-deny-syscall bpf|setns PROGRAM [ARGS...]\n");
        return 2;
    }
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        std::perror("sc-deny-syscall: seccomp");
        return 2;
    }
    execvp(argv[2], argv + 2);
    std::perror("sc-deny-syscall: exec");
    return 127;
}
