#include "bench/catalog_gen.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace trove {
namespace bench {
namespace {

constexpr int kMaxSources = 500;
// Skew of word choice: rank r is drawn with weight 1 / (r + 1)^kWordSkew.
constexpr double kWordSkew = 1.0;

// Frequent words of real file names, at the head of the vocabulary.
const char* const kCommonWords[] = {
    "the", "of", "live", "remix", "love", "night", "feat", "my", "you", "in",
    "and", "a", "version", "original", "mix", "edit", "best", "to", "on",
    "me", "world", "day", "life", "time", "heart", "dance", "radio", "dream",
    "blue", "black", "city", "music", "home", "summer", "fire", "light",
    "song", "girl", "boy", "man", "baby", "part", "deluxe", "edition",
    "collection", "greatest", "hits", "acoustic", "session", "theme",
    "official", "complete", "album", "bonus", "track", "demo", "instrumental",
    "orchestra", "symphony", "concerto", "sonata", "jazz", "rock", "blues",
    "story", "world", "guide", "manual", "history", "introduction", "volume",
    "chapter", "season", "episode", "series", "movie", "documentary",
    "photos", "holiday", "wedding", "family", "trip", "party", "portrait",
    "landscape", "wallpaper", "backup", "archive", "project", "data",
    "source", "setup", "installer", "portable", "update", "driver", "tools",
    "game", "studio", "pro", "free", "windows", "linux", "mac", "ultimate",
};

const char* const kOnsets[] = {"b",  "br", "c",  "ch", "cl", "d",  "dr", "f",
                               "fl", "g",  "gr", "h",  "j",  "k",  "kr", "l",
                               "m",  "n",  "p",  "pl", "pr", "qu", "r",  "s",
                               "sh", "sk", "sl", "st", "t",  "th", "tr", "v",
                               "w",  "z"};
const char* const kVowels[] = {"a", "e", "i", "o", "u", "ai", "ea", "ee",
                               "ie", "oo", "ou", "y"};
const char* const kCodas[] = {"", "", "", "n", "r", "s", "t", "l", "m", "nd",
                              "ng", "rk", "st", "x"};

template <size_t N>
const char* Pick(std::mt19937_64& rng, const char* const (&a)[N]) {
  return a[rng() % N];
}

std::string Capitalized(std::string w) {
  if (!w.empty()) w[0] = absl::ascii_toupper(w[0]);
  return w;
}

}  // namespace

CatalogGenerator::CatalogGenerator(const CatalogOptions& options)
    : options_(options), rng_(options.seed) {
  absl::flat_hash_set<std::string> seen;
  for (const char* w : kCommonWords) {
    if (seen.insert(w).second) vocabulary_.push_back(w);
  }
  const size_t common = vocabulary_.size();
  while (static_cast<int>(vocabulary_.size()) < options_.vocabulary) {
    std::string w;
    const int syllables = 1 + static_cast<int>(rng_() % 3) +
                          (rng_() % 4 == 0 ? 1 : 0);
    for (int i = 0; i < syllables; ++i) {
      w += Pick(rng_, kOnsets);
      w += Pick(rng_, kVowels);
    }
    w += Pick(rng_, kCodas);
    if (w.size() >= 2 && seen.insert(w).second) vocabulary_.push_back(w);
  }
  // The common words stay at the head; the generated ones follow in a
  // seeded order.
  std::shuffle(vocabulary_.begin() + static_cast<long>(common),
               vocabulary_.end(), rng_);
  cumulative_.reserve(vocabulary_.size());
  double total = 0;
  for (size_t r = 0; r < vocabulary_.size(); ++r) {
    total += 1.0 / std::pow(static_cast<double>(r + 1), kWordSkew);
    cumulative_.push_back(total);
  }
  // Sources per file: P(k) proportional to k^-a over 1..kMaxSources, with
  // `a` chosen so that the mean is sources/files.
  const double want = std::max(
      1.0, static_cast<double>(options_.sources) /
               static_cast<double>(std::max<int64_t>(1, options_.files)));
  auto mean_for = [](double a) {
    double num = 0, den = 0;
    for (int k = 1; k <= kMaxSources; ++k) {
      double w = std::pow(static_cast<double>(k), -a);
      num += k * w;
      den += w;
    }
    return num / den;
  };
  double lo = 1.01, hi = 8;
  for (int i = 0; i < 60; ++i) {
    double mid = (lo + hi) / 2;
    (mean_for(mid) > want ? lo : hi) = mid;
  }
  const double a = (lo + hi) / 2;
  total = 0;
  for (int k = 1; k <= kMaxSources; ++k) {
    total += std::pow(static_cast<double>(k), -a);
    source_weights_.push_back(total);
  }
}

const std::string& CatalogGenerator::Word() {
  std::uniform_real_distribution<double> u(0, cumulative_.back());
  size_t r = std::upper_bound(cumulative_.begin(), cumulative_.end(), u(rng_)) -
             cumulative_.begin();
  return vocabulary_[std::min(r, vocabulary_.size() - 1)];
}

std::string CatalogGenerator::Hex32() {
  std::string out;
  out.reserve(64);
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&out, absl::Hex(rng_(), absl::kZeroPad16));
  }
  return out;
}

int64_t CatalogGenerator::SourcesForAFile() {
  std::uniform_real_distribution<double> u(0, source_weights_.back());
  return 1 + (std::upper_bound(source_weights_.begin(), source_weights_.end(),
                               u(rng_)) -
              source_weights_.begin());
}

GenFile CatalogGenerator::MakeFile() {
  GenFile f;
  f.cid = Hex32();
  auto words = [&](int min, int max) {
    int n = min + static_cast<int>(rng_() % (max - min + 1));
    std::string out;
    for (int i = 0; i < n; ++i) {
      if (i > 0) out += ' ';
      out += Capitalized(Word());
    }
    return out;
  };
  std::lognormal_distribution<double> jitter(0, 0.6);
  auto size_around = [&](double median) {
    return std::max<int64_t>(1, static_cast<int64_t>(median * jitter(rng_)));
  };
  const int roll = static_cast<int>(rng_() % 100);
  if (roll < 45) {
    f.kind = FILE_KIND_AUDIO;
    static const char* const kExt[] = {"mp3", "mp3", "mp3", "flac", "ogg", "m4a"};
    const std::string ext = Pick(rng_, kExt);
    const std::string artist = words(1, 2);
    switch (rng_() % 3) {
      case 0:
        f.name = absl::StrCat(artist, " - ", words(1, 4), ".", ext);
        break;
      case 1:
        f.name = absl::StrFormat("%02d %s.%s", 1 + rng_() % 20, words(1, 4), ext);
        break;
      default:
        f.name = absl::StrFormat("%s - %s - %02d - %s.%s", artist, words(1, 3),
                                 1 + rng_() % 20, words(1, 4), ext);
    }
    f.size = size_around(ext == "flac" ? 30e6 : 6e6);
  } else if (roll < 60) {
    f.kind = FILE_KIND_VIDEO;
    static const char* const kExt[] = {"mkv", "mp4", "avi"};
    static const char* const kRes[] = {"720p", "1080p", "2160p", "480p"};
    static const char* const kCodec[] = {"x264", "x265", "HEVC", "XviD"};
    f.name = absl::StrCat(words(1, 4), " (", 1960 + rng_() % 65, ") ",
                          Pick(rng_, kRes), " ", Pick(rng_, kCodec), ".",
                          Pick(rng_, kExt));
    f.size = size_around(1.4e9);
  } else if (roll < 75) {
    f.kind = FILE_KIND_IMAGE;
    static const char* const kExt[] = {"jpg", "jpg", "png", "gif"};
    f.name = rng_() % 2 == 0
                 ? absl::StrFormat("IMG_%04d.jpg", rng_() % 10000)
                 : absl::StrCat(words(1, 3), " ", rng_() % 100, ".",
                                Pick(rng_, kExt));
    f.size = size_around(2.5e6);
  } else if (roll < 85) {
    f.kind = FILE_KIND_DOCUMENT;
    static const char* const kExt[] = {"pdf", "pdf", "epub", "txt", "docx", "mobi"};
    f.name = absl::StrCat(words(2, 5), " - ", words(1, 2), ".", Pick(rng_, kExt));
    f.size = size_around(1.5e6);
  } else if (roll < 93) {
    f.kind = FILE_KIND_ARCHIVE;
    static const char* const kExt[] = {"zip", "rar", "7z", "tar.gz"};
    static const char* const kWhat[] = {"Collection", "Pack", "Set", "Complete"};
    f.name = absl::StrCat(words(1, 3), " ", Pick(rng_, kWhat), ".",
                          Pick(rng_, kExt));
    f.size = size_around(200e6);
  } else {
    f.kind = FILE_KIND_SOFTWARE;
    static const char* const kExt[] = {"exe", "iso", "dmg", "deb", "msi"};
    static const char* const kWhat[] = {"Setup", "Installer", "Portable", ""};
    f.name = absl::StrCat(words(1, 2), " ", rng_() % 12, ".", rng_() % 10, ".",
                          rng_() % 30, " ", Pick(rng_, kWhat), ".",
                          Pick(rng_, kExt));
    absl::StrReplaceAll({{"  ", " "}}, &f.name);
    f.size = size_around(150e6);
  }
  return f;
}

std::string CatalogGenerator::Variant(const std::string& name) {
  switch (rng_() % 3) {
    case 0:
      return absl::AsciiStrToLower(name);
    case 1:
      return absl::StrReplaceAll(name, {{" ", "_"}});
    default:
      return absl::StrReplaceAll(name, {{" - ", " "}});
  }
}

Catalog CatalogGenerator::Generate() {
  Catalog c;
  for (int s = 0; s < options_.supernodes; ++s) c.supernodes.push_back(Hex32());
  c.peers.reserve(options_.peers);
  for (int64_t i = 0; i < options_.peers; ++i) {
    GenPeer p;
    p.id = Hex32();
    p.address = absl::StrFormat("10.%d.%d.%d:7000", (i >> 16) & 255,
                                (i >> 8) & 255, i & 255);
    p.supernode = static_cast<int>(i % options_.supernodes);
    c.peers.push_back(std::move(p));
  }
  c.files.reserve(options_.files);
  c.sources.reserve(options_.sources + options_.sources / 10);
  std::unordered_set<uint32_t> holders;
  for (int64_t i = 0; i < options_.files; ++i) {
    c.files.push_back(MakeFile());
    const GenFile& f = c.files.back();
    const int64_t n = std::min<int64_t>(SourcesForAFile(), options_.peers);
    holders.clear();
    while (static_cast<int64_t>(holders.size()) < n) {
      holders.insert(static_cast<uint32_t>(rng_() % options_.peers));
    }
    for (uint32_t peer : holders) {
      GenSource s;
      s.file = static_cast<uint32_t>(i);
      s.peer = peer;
      s.name = rng_() % 100 < 85 ? f.name : Variant(f.name);
      c.sources.push_back(std::move(s));
    }
  }
  return c;
}

Catalog CatalogGenerator::GenerateNewLeaves(int64_t files, int64_t leaves,
                                            int supernodes) {
  Catalog c;
  for (int s = 0; s < supernodes; ++s) c.supernodes.push_back(Hex32());
  for (int64_t i = 0; i < leaves; ++i) {
    GenPeer p;
    p.id = Hex32();
    p.address = absl::StrFormat("10.200.%d.%d:7000", (i >> 8) & 255, i & 255);
    p.supernode = static_cast<int>(i % supernodes);
    c.peers.push_back(std::move(p));
  }
  c.files.reserve(files);
  c.sources.reserve(files);
  for (int64_t i = 0; i < files; ++i) {
    c.files.push_back(MakeFile());
    GenSource s;
    s.file = static_cast<uint32_t>(i);
    s.peer = static_cast<uint32_t>(i % leaves);
    s.name = c.files.back().name;
    c.sources.push_back(std::move(s));
  }
  return c;
}

}  // namespace bench
}  // namespace trove
