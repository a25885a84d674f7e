// Self-connects the kernel folded: past the first few a second of one
// command on one port (bpf/events.h, struct sc_fold), they are counted in
// the kernel, not written one by one. A second after a self_connect record
// of a key, its fold is read; what was folded is written as one
// self_connect_repeats record (how many, over how long) once the key has
// been quiet for a second, or every ten seconds while the loop goes on.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "events.h"
#include "watch/fold_table.h"
#include "records/record.h"

namespace selfconnect {

class SelfConnectFolds {
public:
    // A self_connect record was written: its key's fold is read a second
    // later. Records whose owner is not known were never folded.
    void written(const Record& self_connect);

    // self_connect_repeats records due at `now_ns` (kernel monotonic). At
    // the end (`final`), every fold is read and what it holds is written.
    std::vector<Record> due(FoldTable& table, uint64_t now_ns, bool final = false);

    size_t tracked() const { return folds_.size(); }

    static constexpr uint64_t kQuietNs = 1'000'000'000;       // a loop that stopped
    static constexpr uint64_t kEveryNs = 10'000'000'000;      // a loop that goes on
    static constexpr uint64_t kForgetAfterNs = 60'000'000'000;  // a key idle this long
    static constexpr uint64_t kEveryCheckNs = 250'000'000;    // due() does nothing more often
    // Keys kept (a user cycling through names and ports makes many): past
    // it, the longest idle are written and forgotten, here and in the
    // kernel, a tenth at a time.
    static constexpr size_t kMaxTracked = 4096;

private:
    struct Fold {
        sc_command_port key{};
        Record last;                  // the key's last self_connect record
        uint64_t read_through = 0;    // the kernel's count, as last read
        uint64_t made_ns = 0;         // the kernel entry's, as last read
        uint64_t pending = 0;         // read, not yet written
        uint64_t since_ns = 0;        // start of what `pending` covers
        uint64_t last_folded_ns = 0;  // the kernel's, as last read
        uint64_t check_at_ns = 0;     // 0: nothing to read until a record
        uint64_t active_ns = 0;       // last record, fold or write
    };
    static sc_command_port key_of(const Record& r);
    static std::string bytes_of(const sc_command_port& key);
    static void read(FoldTable& table, Fold& f);
    static Record repeats_of(Fold& f);
    void make_room(FoldTable& table, std::vector<Record>& out);

    std::map<std::string, Fold> folds_;
    uint64_t next_check_ns_ = 0;
};

}  // namespace selfconnect
