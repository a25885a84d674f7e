// Names from a Docker Engine API socket (Docker, podman's compatible
// service): GET /containers/ID/json.
#include "host/runtime_names.h"

#include "host/unix_http.h"

namespace selfconnect {

namespace {

constexpr size_t kMaxAnswer = 1 << 20;  // a container's inspect is a few KiB

class DockerApiSource final : public NameSource {
public:
    DockerApiSource(std::string path, std::chrono::milliseconds timeout) : path_(std::move(path)), timeout_(timeout) {}

    std::optional<ContainerNames> names_of(const std::string& id) override
    {
        const std::string answer = get("/containers/" + id + "/json");
        const auto head_end = answer.find("\r\n\r\n");
        if (answer.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos)
            throw RuntimeUnreachable(where() + " gave no HTTP answer");
        const std::string status = answer.substr(9, 3);
        if (status == "404")
            return std::nullopt;  // not one of this runtime's containers
        if (status != "200")
            throw RuntimeUnreachable(where() + " answered HTTP " + status);
        return names_from_docker_json(answer.substr(head_end + 4));
    }

    std::string where() const override { return "the Docker API at " + path_; }

private:
    std::string get(const std::string& target)
    {
        try {
            return unix_http_get(path_, target, timeout_, kMaxAnswer);
        } catch (const UnixHttpFailure& e) {
            throw RuntimeUnreachable(where() + e.what());
        }
    }

    std::string path_;
    std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<NameSource> docker_api_source(std::string socket_path, std::chrono::milliseconds timeout)
{
    return std::make_unique<DockerApiSource>(std::move(socket_path), timeout);
}

}  // namespace selfconnect
