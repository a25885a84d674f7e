#include "records/container_namer.h"

#include <cstdio>

namespace selfconnect {

namespace {
constexpr size_t kQueueLimit = 64;
constexpr size_t kCacheLimit = 4096;
// A container no runtime knew is asked about again after this long: its
// runtime may not have written it down yet.
constexpr auto kRetryUnknownAfter = std::chrono::seconds(10);
}  // namespace

ContainerNamer::ContainerNamer(std::vector<std::unique_ptr<NameSource>> sources)
    : sources_(std::move(sources)), said_unreachable_(sources_.size(), false)
{
}

ContainerNamer::~ContainerNamer()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

void ContainerNamer::start()
{
    if (!sources_.empty() && !thread_.joinable())
        thread_ = std::thread([this] { run(); });
}

std::optional<ContainerNames> ContainerNamer::names_of(const std::string& id, std::chrono::milliseconds wait)
{
    if (sources_.empty())
        return std::nullopt;
    std::unique_lock<std::mutex> lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    auto it = cache_.find(id);
    if (it != cache_.end() && (it->second.names || it->second.pending || now - it->second.looked_at < kRetryUnknownAfter)) {
        if (!it->second.pending || wait.count() == 0)
            return it->second.names;
    } else {
        if (queue_.size() >= kQueueLimit)
            return std::nullopt;  // asked again by the container's next record
        if (cache_.size() >= kCacheLimit)
            cache_.clear();  // containers come and go; the running ones are asked again
        cache_[id] = Entry{std::nullopt, now, true};
        queue_.push_back(id);
        wake_.notify_one();
    }
    if (wait.count() == 0)
        return std::nullopt;
    answered_.wait_for(lock, wait, [&] { return !cache_[id].pending; });
    return cache_[id].names;
}

std::optional<ContainerNames> ContainerNamer::ask_sources(const std::string& id)
{
    for (size_t i = 0; i < sources_.size(); ++i) {
        try {
            if (auto names = sources_[i]->names_of(id))
                return names;
        } catch (const RuntimeUnreachable& e) {
            if (!said_unreachable_[i]) {
                said_unreachable_[i] = true;
                std::fprintf(stderr, "selfconnect: cannot read container names from %s (%s); records keep the "
                                     "container id alone\n",
                             sources_[i]->where().c_str(), e.what());
            }
        }
    }
    return std::nullopt;
}

void ContainerNamer::run()
{
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (stop_)
            return;
        const std::string id = queue_.front();
        queue_.pop_front();
        lock.unlock();
        std::optional<ContainerNames> names = ask_sources(id);
        lock.lock();
        cache_[id] = Entry{std::move(names), std::chrono::steady_clock::now(), false};
        answered_.notify_all();
    }
}

}  // namespace selfconnect
