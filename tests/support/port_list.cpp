#include "port_list.h"

#include <sstream>

namespace selfconnect::testing {

std::set<int> ports_in_list(const std::string& list)
{
    std::set<int> ports;
    std::stringstream in(list);
    for (std::string item; std::getline(in, item, ',');) {
        if (item.empty())
            continue;
        const auto dash = item.find('-');
        const int lo = std::stoi(item.substr(0, dash));
        const int hi = dash == std::string::npos ? lo : std::stoi(item.substr(dash + 1));
        for (int p = lo; p <= hi; ++p)
            ports.insert(p);
    }
    return ports;
}

}  // namespace selfconnect::testing
