"""The Python client's defaults are the C++ client's: the retries of a change are
client::kDefaultMutationRetries of client/desfired_client.h, the one number desfirectl, the C++
client and the C++ examples use (docs/clients.md)."""

import inspect
import os
import re
import unittest

import desfired_client

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "client",
                      "desfired_client.h")


def cpp_default_retries():
    with open(HEADER, encoding="utf-8") as f:
        match = re.search(r"inline constexpr int kDefaultMutationRetries = (\d+);", f.read())
    if match is None:
        raise AssertionError("kDefaultMutationRetries not found in " + HEADER)
    return int(match.group(1))


class DefaultsTest(unittest.TestCase):
    def test_mutation_retries_match_the_cpp_client(self):
        want = cpp_default_retries()
        for fn in (desfired_client.connect, desfired_client.Client.__init__):
            with self.subTest(fn=fn.__qualname__):
                got = inspect.signature(fn).parameters["mutation_retries"].default
                self.assertEqual(got, want)


if __name__ == "__main__":
    unittest.main()
