// Names from a Docker Engine API socket (Docker, podman's compatible
// service): GET /containers/ID/json for one, /containers/json for those
// running, and /events for those created from then on (a create comes
// before its container's process runs).
#include "host/runtime_names.h"

#include "host/unix_http.h"

namespace selfconnect {

namespace {

constexpr size_t kMaxAnswer = 1 << 20;    // a container's inspect is a few KiB
constexpr size_t kMaxListing = 64 << 20;  // a listing, about 2 KiB a container
// Containers only: their create, start, rename and destroy are the names'
// news ({"type":["container"]}).
constexpr const char* kEventsTarget = "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D";

struct DockerEvents final : RuntimeEvents {
    DockerEvents(const std::string& path, std::chrono::milliseconds timeout, std::string where)
        : stream(path, kEventsTarget, timeout, kMaxAnswer), where_(std::move(where))
    {
    }
    int fd() const override { return stream.fd(); }
    std::vector<RuntimeChange> read() override
    {
        std::vector<RuntimeChange> changes;
        try {
            for (const auto& line : stream.read_lines())
                if (auto change = change_from_docker_event(line))
                    changes.push_back(std::move(*change));
        } catch (const UnixHttpStreamEnded& e) {
            throw RuntimeStreamEnded(where_ + e.what());
        } catch (const UnixHttpFailure& e) {
            throw RuntimeUnreachable(where_ + e.what());
        }
        return changes;
    }
    UnixHttpStream stream;
    std::string where_;
};

class DockerApiSource final : public NameSource {
public:
    DockerApiSource(std::string path, std::chrono::milliseconds timeout) : path_(std::move(path)), timeout_(timeout) {}

    std::optional<ContainerNames> names_of(const std::string& id) override
    {
        const auto body = get("/containers/" + id + "/json", kMaxAnswer, timeout_);
        if (!body)
            return std::nullopt;  // not one of this runtime's containers
        return names_from_docker_json(*body);
    }

    std::vector<KnownContainer> list() override
    {
        return containers_from_docker_list(get("/containers/json", kMaxListing, timeout_ * 4).value_or(""));
    }

    std::unique_ptr<RuntimeEvents> follow() override
    {
        try {
            auto events = std::make_unique<DockerEvents>(path_, timeout_, where());
            if (events->stream.status() != "200")
                throw RuntimeUnreachable(where() + " answered HTTP " + events->stream.status() + " for its events");
            return events;
        } catch (const UnixHttpFailure& e) {
            throw RuntimeUnreachable(where() + e.what());
        }
    }

    std::string where() const override { return "the Docker API at " + path_; }

private:
    // The body of a 200 answer; nothing for a 404.
    std::optional<std::string> get(const std::string& target, size_t max_answer, std::chrono::milliseconds timeout)
    {
        std::string answer;
        try {
            answer = unix_http_get(path_, target, timeout, max_answer);
        } catch (const UnixHttpFailure& e) {
            throw RuntimeUnreachable(where() + e.what());
        }
        const auto head_end = answer.find("\r\n\r\n");
        if (answer.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos)
            throw RuntimeUnreachable(where() + " gave no HTTP answer");
        const std::string status = answer.substr(9, 3);
        if (status == "404")
            return std::nullopt;
        if (status != "200")
            throw RuntimeUnreachable(where() + " answered HTTP " + status);
        return answer.substr(head_end + 4);
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
