// The kernel's port-list syntax ("8080,9000-9010"), read by the tests from
// the sysctls they check, with a parser of their own: a test must not lean
// on the code it tests.
#pragma once

#include <set>
#include <string>

namespace selfconnect::testing {

std::set<int> ports_in_list(const std::string& list);

}  // namespace selfconnect::testing
