#include "records/record_sink.h"

#include "records/record_json.h"
#include "records/record_text.h"

namespace selfconnect {

void TextSink::write(const Record& r) { out_.write_line(to_text(r)); }

void TextSink::write_lost(const LostEvents& l) { out_.write_line(lost_text(l)); }

void TextSink::write_audit(const AuditReport& report)
{
    out_.write_line("selfconnect audit: " + std::to_string(report.namespaces) + " network namespaces, " +
                    std::to_string(report.self_connects) + " self-connected sockets, " +
                    std::to_string(report.listeners) + " listeners at risk");
    std::string last_fix;
    for (const Record& r : report.records) {
        const std::optional<std::string>* fix = fix_line(r);
        if (!fix) {
            out_.write_line(to_text(r));
            continue;
        }
        Record shown = r;
        fix_line(shown)->reset();  // printed once per namespace, below
        out_.write_line(to_text(shown));
        if (*fix && **fix != last_fix) {
            out_.write_line("  fix for netns " + std::to_string(r.netns) + ": " + **fix);
            last_fix = **fix;
        }
    }
}

void JsonSink::write(const Record& r) { out_.write_line(json_line(to_json(r))); }

void JsonSink::write_lost(const LostEvents& l) { out_.write_line(json_line(lost_json(l))); }

std::string lost_line(OutputForm form, const LostEvents& l)
{
    return form == OutputForm::Json ? json_line(lost_json(l)) : lost_text(l);
}

std::unique_ptr<RecordSink> make_sink(OutputForm form, LineWriter& out)
{
    out.set_loss_notice([form](uint64_t count, uint64_t total) {
        return lost_line(form, LostEvents{std::chrono::system_clock::now(), LossPlace::Output, count, total});
    });
    if (form == OutputForm::Json)
        return std::make_unique<JsonSink>(out);
    return std::make_unique<TextSink>(out);
}

}  // namespace selfconnect
