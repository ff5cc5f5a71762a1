#include "server/nats/subjects.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace desfired::server::nats {
namespace {

bool TokenByte(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

}  // namespace

absl::Status CheckInstance(absl::string_view instance) {
  if (instance.empty() || instance.size() > kMaxInstanceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--instance: 1 to ", kMaxInstanceBytes, " characters, got ", instance.size()));
  }
  for (char c : instance) {
    if (!TokenByte(c)) {
      return absl::InvalidArgumentError(
          "--instance: only letters, digits, '-' and '_' (it is one token of the NATS subjects "
          "desfired.<instance>.<reader>.<kind>)");
    }
  }
  return absl::OkStatus();
}

std::string ReaderToken(absl::string_view reader) {
  if (reader.empty()) return "_";
  std::string out(reader);
  for (char& c : out) {
    if (!TokenByte(c)) c = '_';
  }
  return out;
}

absl::string_view KindToken(CardEventKind kind) {
  switch (kind) {
    case CardEventKind::kCardInserted:
    case CardEventKind::kCardRemoved:
    case CardEventKind::kCardUpdated:
      return "card";
    case CardEventKind::kChange:
      return "change";
    case CardEventKind::kReaderAdded:
    case CardEventKind::kReaderRemoved:
    case CardEventKind::kPcscUnavailable:
    case CardEventKind::kPcscAvailable:
      break;
  }
  return "reader";
}

std::string SubjectOf(absl::string_view instance, absl::string_view reader, CardEventKind kind) {
  return absl::StrCat(kSubjectRoot, ".", instance, ".", ReaderToken(reader), ".", KindToken(kind));
}

std::string MessageIdOf(absl::string_view instance, uint64_t boot, uint64_t sequence) {
  return absl::StrCat(instance, ".", boot, ".", sequence);
}

}  // namespace desfired::server::nats
