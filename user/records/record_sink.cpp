#include "records/record_sink.h"

#include "records/record_json.h"
#include "records/record_text.h"

namespace selfconnect {

void TextSink::write(const Record& r) { out_.write_line(to_text(r)); }

void TextSink::write_lost(const LostEvents& l) { out_.write_line(lost_text(l)); }

void JsonSink::write(const Record& r) { out_.write_line(json_line(to_json(r))); }

void JsonSink::write_lost(const LostEvents& l) { out_.write_line(json_line(lost_json(l))); }

std::unique_ptr<RecordSink> make_sink(bool json, LineWriter& out)
{
    out.set_loss_notice([json](uint64_t count, uint64_t total) {
        const LostEvents l{std::chrono::system_clock::now(), LossPlace::Output, count, total};
        return json ? json_line(lost_json(l)) : lost_text(l);
    });
    if (json)
        return std::make_unique<JsonSink>(out);
    return std::make_unique<TextSink>(out);
}

}  // namespace selfconnect
