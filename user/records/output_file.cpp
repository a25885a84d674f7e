#include "records/output_file.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace selfconnect {

OutputFile::OutputFile(std::string path, LineWriter& writer) : path_(std::move(path)), writer_(writer)
{
    if (auto err = reopen())
        throw std::runtime_error(*err);
}

std::optional<std::string> OutputFile::reopen()
{
    UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
    if (!fd)
        return "cannot open " + path_ + ": " + strerror(errno);
    writer_.redirect(fd.get());
    fd_ = std::move(fd);
    return std::nullopt;
}

}  // namespace selfconnect
