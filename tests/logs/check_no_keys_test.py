#!/usr/bin/python3
"""check_no_keys.py can fail: planted keys and card data in a temporary log directory."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_no_keys.py")
REPO = os.path.dirname(os.path.dirname(HERE))

CONF_KEY = "3c4fcf098815f7aba6d2ae2815167e2b"
SOURCE_KEY = "11223344556677889900aabbccddeeff"
IMAGE_KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
IMAGE_DATA = "5345435245540000000102030405060708090a0b"
CLEAN_LINE = ('{"ts":"2025-01-02T03:04:05.678Z","level":"info","msg":"rpc","method":"Debit",'
              '"request_id":"d-1","latency_ms":12.500}\n')


def run(source_dir, log_dir, *extra):
    p = subprocess.run([sys.executable, CHECKER, "--source-dir", source_dir, "--log-dir", log_dir,
                        *extra], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


class CheckNoKeysTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = self.tmp.name
        self.src = os.path.join(root, "src")
        self.logs = os.path.join(root, "logs")
        os.makedirs(os.path.join(self.src, "tests", "e2e"))
        os.makedirs(os.path.join(self.src, "docker", "demo"))
        os.makedirs(os.path.join(self.src, "sim", "images"))
        os.makedirs(self.logs)
        with open(os.path.join(self.src, "docker", "demo", "keys.conf"), "w") as f:
            f.write(f"# demo\nkey demo-read AES128 {CONF_KEY}\ntap static key=demo-read\n"
                    "token ops 0123456789abcdefTOKEN\n")
        with open(os.path.join(self.src, "tests", "e2e", "some_test.cc"), "w") as f:
            f.write(f'constexpr char kKeys[] = "key app AES128 {SOURCE_KEY}\\n";\n'
                    'constexpr char kTokenPin[] = "5647382910";\n')
        with open(os.path.join(self.src, "sim", "images", "card.json"), "w") as f:
            json.dump({"picc": {"key": {"type": "AES128", "value": IMAGE_KEY.upper()}},
                       "applications": [{"files": [{"data": IMAGE_DATA}]}]}, f)

    def tearDown(self):
        self.tmp.cleanup()

    def write_log(self, name, lines):
        with open(os.path.join(self.logs, name), "w") as f:
            f.writelines(lines)

    def test_clean_logs_pass_and_say_what_was_checked(self):
        self.write_log("desfired-1.log", [CLEAN_LINE] * 3)
        self.write_log("desfired-2.log", [CLEAN_LINE])
        code, out = run(self.src, self.logs)
        self.assertEqual(code, 0, out)
        self.assertIn("6 secrets", out)  # 3 keys, 1 card data, 1 token, 1 PIN
        self.assertIn("4 lines in 2 files", out)

    def test_a_key_of_a_conf_file_in_upper_case_fails_naming_file_and_line(self):
        self.write_log("desfired-1.log", [CLEAN_LINE])
        self.write_log("desfired-2.log",
                       [CLEAN_LINE, CLEAN_LINE, f'{{"msg":"oops {CONF_KEY.upper()}"}}\n'])
        code, out = run(self.src, self.logs)
        self.assertEqual(code, 1, out)
        self.assertIn("desfired-2.log:3: key demo-read (from docker/demo/keys.conf)", out)
        self.assertNotIn("desfired-1.log", out)
        self.assertNotIn(CONF_KEY, out.lower())  # the report never repeats the value

    def test_keys_from_sources_images_tokens_and_spaced_hex_fail(self):
        spaced = " ".join(SOURCE_KEY[i:i + 2] for i in range(0, len(SOURCE_KEY), 2))
        colons = ":".join(IMAGE_KEY[i:i + 2] for i in range(0, len(IMAGE_KEY), 2))
        self.write_log("a.log", [f"frame {spaced}\n", f"k={colons}\n", f"d {IMAGE_DATA}\n",
                                 "auth 0123456789ABCDEFtoken\n", "login 5647382910\n", CLEAN_LINE])
        code, out = run(self.src, self.logs)
        self.assertEqual(code, 1, out)
        self.assertIn("a.log:1: key app (from tests/e2e/some_test.cc)", out)
        self.assertIn("a.log:2: key at $.picc.key (from sim/images/card.json)", out)
        self.assertIn("a.log:3: card data", out)
        self.assertIn("a.log:4: token ops", out)
        self.assertIn("a.log:5: PIN kTokenPin (from tests/e2e/some_test.cc)", out)
        self.assertNotIn("a.log:6", out)

    def test_an_extra_secret_counts(self):
        self.write_log("a.log", [CLEAN_LINE, "request d-1 secret-value-xyz\n"])
        code, out = run(self.src, self.logs, "--secret", "secret-value-xyz")
        self.assertEqual(code, 1, out)
        self.assertIn("a.log:2: --secret #1", out)

    def test_an_empty_or_missing_log_directory_fails(self):
        code, out = run(self.src, self.logs)
        self.assertEqual(code, 1, out)
        self.assertIn("no log lines", out)
        self.write_log("empty.log", [])
        code, out = run(self.src, self.logs)
        self.assertEqual(code, 1, out)
        code, out = run(self.src, os.path.join(self.logs, "missing"))
        self.assertEqual(code, 1, out)
        if os.geteuid() != 0:
            code, out = run(self.src, self.logs, "--skip-without-root")
            self.assertEqual(code, 77, out)

    def test_the_repository_keys_are_found(self):
        # The keys of the real tree: the transit card's read key (sim image, demo key store,
        # e2e tests) and the demo tap key.
        self.write_log("a.log", ["x A0A1A2A3A4A5A6A7A8A9AAABACADAEAF\n",
                                 "y 2b7e151628aed2a6abf7158809cf4f3c\n", CLEAN_LINE])
        code, out = run(REPO, self.logs)
        self.assertEqual(code, 1, out)
        self.assertIn("a.log:1:", out)
        self.assertIn("a.log:2:", out)
        self.assertNotIn("a.log:3:", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
