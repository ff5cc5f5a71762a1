// The HTTP port a desfired started with --http_listen=HOST:0 picked: its start-up log line
// names it ("http_port":N). For the e2e tests of the HTTP API.
//
//   const int port = testing::HttpPortOf(server->err());   // 0: not (yet) in the log
//
// Thread-safe: a pure function.
#ifndef DESFIRED_TESTS_TESTING_HTTP_PORT_H_
#define DESFIRED_TESTS_TESTING_HTTP_PORT_H_

#include <regex>
#include <string>

namespace desfired::testing {

inline int HttpPortOf(const std::string& log) {
  std::smatch m;
  if (!std::regex_search(log, m, std::regex("\"http_port\":([0-9]+)"))) return 0;
  return std::stoi(m[1]);
}

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_HTTP_PORT_H_
