// The key store (docs/key-store.md) that tests give desfired in front of the transit card
// image (sim/images/transit.json, made by sim/images/make_transit.py): its application keys
// under the names the tests, examples and docs use, the demo tap key, and the blank card's
// default PICC key, each granted to the roles and uses the tests need (docs/key-store.md, "Who
// may use a key"): the masters to admins (picc also as app-master: DeleteApplication presents
// it at the card level and then in the application), the read key to every role, the debit and credit keys
// to operators and admins; the tap key verifies tap records only.
//
// Application F51001 (AES keys): 0 transit-master, 1 transit-read, 2 transit-debit (write),
// 3 transit-credit (read-write). Files: 1 value (0..100000, 2500, limited credit), 2 backup
// (32 bytes), 3 cyclic tap log, 4 standard (32 bytes, free read), 5 standard (full, key 1).
#ifndef DESFIRED_TESTS_TESTING_TRANSIT_KEYS_H_
#define DESFIRED_TESTS_TESTING_TRANSIT_KEYS_H_

#include <cstdint>

namespace desfired::testing {

inline constexpr char kTransitKeyFile[] =
    "key transit-master AES128 00112233445566778899aabbccddeeff roles=admin use=app-master,change\n"
    "key transit-read   AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf roles=viewer,operator,admin "
    "use=read\n"
    "key transit-debit  AES128 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf roles=operator,admin "
    "use=read,write\n"
    "key transit-credit AES128 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf roles=operator,admin "
    "use=read,write\n"
    "key tap            AES128 2b7e151628aed2a6abf7158809cf4f3c use=none\n"
    "key picc           DES    0000000000000000 roles=admin use=picc-master,app-master\n"
    "tap static key=tap\n";

inline constexpr uint32_t kTransitAid = 0xF51001;
inline constexpr uint32_t kTransitValueFile = 1;
inline constexpr uint32_t kTransitReadKeyNo = 1;
inline constexpr uint32_t kTransitDebitKeyNo = 2;
inline constexpr uint32_t kTransitCreditKeyNo = 3;

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_TRANSIT_KEYS_H_
