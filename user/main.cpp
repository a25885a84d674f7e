// selfconnect: finds TCP sockets connected to themselves.
#include <cstdio>
#include <string>
#include <vector>

#include "audit/audit_command.h"
#include "cli/command_line.h"
#include "watch/watch_command.h"

int main(int argc, char** argv)
{
    using selfconnect::Command;
    const Command cmd = selfconnect::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
    switch (cmd.kind) {
    case Command::Kind::Watch:
        return selfconnect::run_watch(cmd.watch);
    case Command::Kind::Audit:
        return selfconnect::run_audit(cmd.audit);
    case Command::Kind::Exit:
        std::fputs(cmd.output.c_str(), cmd.output_is_error ? stderr : stdout);
        return cmd.exit_code;
    }
    return 2;
}
