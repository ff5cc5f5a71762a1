// desfire-sim: an emulated MIFARE DESFire card on a vsmartcard-vpcd virtual reader.
//
//   desfire-sim --image sim/images/transit.json --vpcd 127.0.0.1:35963 [options]
//
// See docs/simulator.md. Flags → image → card → vpcd loop; nothing else happens here.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/util/bytes.h"
#include "sim/card/card.h"
#include "sim/card/products.h"
#include "sim/image/image.h"
#include "sim/vpcd/vpcd_card.h"

namespace {

constexpr char kUsage[] =
    "usage: desfire-sim --image FILE --vpcd HOST:PORT [options]\n"
    "  --image FILE          card image (JSON, see docs/simulator.md)\n"
    "  --vpcd HOST:PORT      the vpcd reader port to connect to (e.g. 127.0.0.1:35963)\n"
    "  --save                save the card back to --image on exit, SIGHUP or `save`\n"
    "  --save-to FILE        save to FILE instead\n"
    "  --control PATH        unix socket for commands (insert, remove, save, status, quit,\n"
    "                        tear N, hang N, lose INS, delay US, failuid N, lrp on|off)\n"
    "  --removed             start with the card out of the field (insert later)\n"
    "  --tear-after N        close the connection when the N-th APDU arrives\n"
    "  --hang-after N        never answer the N-th APDU\n"
    "  --delay-us N          wait N microseconds before every answer\n"
    "  --verbose             log every APDU in hex on stderr\n"
    "  --legacy-pad80        legacy (0A) sessions pad whole-file enciphered reads with\n"
    "                        80 00.. after the CRC16 (as some cards do) instead of 00..\n"
    "  --product NAME        present the GetVersion bytes of NAME (ev1, ev2, ev2xl, ev3,\n"
    "                        light, ntag424) instead of the image's\n"
    "  --lrp                 LRP mode (as SetConfiguration sets it on an EV3): only\n"
    "                        AuthenticateLRPFirst/NonFirst and LRP secure messaging\n"
    "  --originality-key HEX a P-224 private key (28 bytes) ReadSig signs the UID with (a\n"
    "                        test key, never a manufacturer's); without it ReadSig is refused\n"
    "  --fixed-random HEX    for benchmarks and tests only: the card's random numbers (RndB,\n"
    "                        TI, random UID) repeat HEX, so exchanges can be replayed\n"
    "signals: SIGUSR1 remove, SIGUSR2 insert, SIGHUP save, SIGTERM/SIGINT save and exit\n";

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr, "desfire-sim: %s\n%s", error.c_str(), kUsage);
  std::exit(2);
}

uint64_t Number(const std::string& flag, const std::string& v) {
  uint64_t n = 0;
  if (!absl::SimpleAtoi(v, &n)) Usage(absl::StrCat(flag, " needs a number, got '", v, "'"));
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  using desfired::sim::VpcdOptions;
  VpcdOptions opt;
  std::string image;
  std::string vpcd;
  bool save = false;
  bool legacy_pad80 = false;
  bool lrp = false;
  std::optional<desfired::Bytes> fixed_random;
  std::string product;
  desfired::Bytes originality_key;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--image") {
      image = value();
    } else if (a == "--vpcd") {
      vpcd = value();
    } else if (a == "--save") {
      save = true;
    } else if (a == "--save-to") {
      opt.save_path = value();
    } else if (a == "--control") {
      opt.control_socket = value();
    } else if (a == "--removed") {
      opt.start_inserted = false;
    } else if (a == "--tear-after") {
      opt.tear_after_apdus = Number(a, value());
    } else if (a == "--hang-after") {
      opt.hang_after_apdus = Number(a, value());
    } else if (a == "--delay-us") {
      opt.apdu_delay = std::chrono::microseconds(Number(a, value()));
    } else if (a == "--verbose") {
      opt.verbose = true;
    } else if (a == "--legacy-pad80") {
      legacy_pad80 = true;
    } else if (a == "--lrp") {
      lrp = true;
    } else if (a == "--product") {
      product = value();
    } else if (a == "--originality-key") {
      auto key = desfired::HexDecode(value());
      if (!key.ok() || key->size() != 28) Usage(a + " needs 28 bytes of hex");
      originality_key = *std::move(key);
    } else if (a == "--fixed-random") {
      const std::string hex = value();
      auto pattern = desfired::HexDecode(hex);
      if (!pattern.ok() || pattern->empty()) {
        Usage(absl::StrCat(a, " needs hex bytes, got '", hex, "'"));
      }
      fixed_random = *std::move(pattern);
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      Usage("unknown argument " + a);
    }
  }
  if (image.empty()) Usage("--image is required");
  const size_t colon = vpcd.rfind(':');
  if (colon == std::string::npos) Usage("--vpcd HOST:PORT is required");
  opt.host = vpcd.substr(0, colon);
  const uint64_t port = Number("--vpcd port", vpcd.substr(colon + 1));
  if (port == 0 || port > 65535) Usage("--vpcd port out of range");
  opt.port = static_cast<uint16_t>(port);
  if (save && opt.save_path.empty()) opt.save_path = image;

  auto state = desfired::sim::LoadImage(image);
  if (!state.ok()) {
    std::fprintf(stderr, "desfire-sim: %s\n", std::string(state.status().message()).c_str());
    return 1;
  }
  if (!product.empty()) {
    auto posed = desfired::sim::PoseAs(product, state->version);
    if (!posed.has_value()) {
      Usage(absl::StrCat("--product must be one of ", desfired::sim::ProductNames(), ", got '",
                         product, "'"));
    }
    state->version = *std::move(posed);
  }
  desfired::sim::Card card(
      *std::move(state),
      fixed_random ? desfired::sim::RepeatingRandom(*std::move(fixed_random)) : nullptr);
  card.set_legacy_pad80(legacy_pad80);
  card.set_lrp_mode(lrp);
  card.set_originality_key(std::move(originality_key));
  desfired::sim::VpcdCard server(card, opt);
  const absl::Status s = server.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "desfire-sim: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
