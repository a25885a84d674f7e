#include "host/journal_socket.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace selfconnect {

namespace {

#ifdef MFD_NOEXEC_SEAL
constexpr unsigned kMfdNoexecSeal = MFD_NOEXEC_SEAL;
#else
constexpr unsigned kMfdNoexecSeal = 0x0008U;  // linux/memfd.h, Linux 6.3
#endif

}  // namespace

bool is_journal_stream(int fd, const char* journal_stream)
{
    unsigned long long dev = 0, ino = 0;
    int used = 0;
    struct stat st {};
    if (!journal_stream || std::sscanf(journal_stream, "%llu:%llu%n", &dev, &ino, &used) != 2 ||
        journal_stream[used] != '\0')
        return false;
    return fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

std::optional<JournalSocket> JournalSocket::open(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path))
        return std::nullopt;
    std::memcpy(addr.sun_path, path.data(), path.size());
    UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd)
        return std::nullopt;
    return JournalSocket(std::move(fd), addr, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size()));
}

JournalSocket::JournalSocket(UniqueFd fd, const sockaddr_un& addr, socklen_t len)
    : fd_(std::move(fd)), addr_(addr), addr_len_(len)
{
}

int JournalSocket::send_to_journald(msghdr& m) const
{
    m.msg_name = const_cast<sockaddr_un*>(&addr_);
    m.msg_namelen = addr_len_;
    while (sendmsg(fd_.get(), &m, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return errno;
    return 0;
}

int JournalSocket::send(const std::string& entry) const
{
    iovec iov{const_cast<char*>(entry.data()), entry.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    const int err = send_to_journald(m);
    // Larger than the socket's send buffer allows in one datagram.
    if (err == EMSGSIZE || err == ENOBUFS)
        return send_as_memfd(entry);
    return err;
}

// journald reads an empty datagram that carries one descriptor as the
// entry in that file; it takes only a memfd sealed against change.
int JournalSocket::send_as_memfd(const std::string& entry) const
{
    // Not executable, said so (Linux 6.3+ warns, or refuses under
    // vm.memfd_noexec=2, a memfd that does not); older kernels refuse the flag.
    UniqueFd file(memfd_create("selfconnect-journal-entry", MFD_CLOEXEC | MFD_ALLOW_SEALING | kMfdNoexecSeal));
    if (!file && errno == EINVAL)
        file.reset(memfd_create("selfconnect-journal-entry", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!file)
        return errno;
    for (size_t done = 0; done < entry.size();) {
        const ssize_t n = write(file.get(), entry.data() + done, entry.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += static_cast<size_t>(n);
    }
    if (fcntl(file.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
        return errno;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr m{};
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    const int fd = file.get();
    std::memcpy(CMSG_DATA(c), &fd, sizeof(fd));
    return send_to_journald(m);
}

}  // namespace selfconnect
