#include "common/search/kinds.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"

namespace trove {
namespace search {
namespace {

struct KindRow {
  FileKind kind;
  const char* name;
  std::vector<const char*> extensions;
};

const std::vector<KindRow>& Table() {
  static const auto* table = new std::vector<KindRow>{
      {FILE_KIND_AUDIO,
       "audio",
       {"aac", "aif", "aiff", "alac", "ape", "au", "flac", "m4a", "m4b", "mid",
        "midi", "mka", "mp2", "mp3", "mpc", "oga", "ogg", "opus", "ra", "wav",
        "wma", "wv"}},
      {FILE_KIND_VIDEO,
       "video",
       {"3gp", "asf", "avi", "divx", "flv", "m2ts", "m4v", "mkv", "mov", "mp4",
        "mpeg", "mpg", "ogm", "ogv", "rm", "rmvb", "ts", "vob", "webm", "wmv"}},
      {FILE_KIND_IMAGE,
       "image",
       {"bmp", "gif", "heic", "ico", "jpeg", "jpg", "png", "psd", "raw", "svg",
        "tga", "tif", "tiff", "webp"}},
      {FILE_KIND_DOCUMENT,
       "document",
       {"azw3", "cbr", "cbz", "chm", "djvu", "doc", "docx", "epub", "htm",
        "html", "md", "mobi", "odp", "ods", "odt", "pdf", "ppt", "pptx", "ps",
        "rtf", "tex", "txt", "xls", "xlsx"}},
      {FILE_KIND_ARCHIVE,
       "archive",
       {"7z", "ace", "arj", "bz2", "cab", "gz", "lz", "lzma", "rar", "tar",
        "tbz", "tgz", "txz", "xz", "z", "zip", "zst"}},
      {FILE_KIND_SOFTWARE,
       "software",
       {"apk", "app", "appimage", "bin", "cue", "deb", "dmg", "exe", "img",
        "iso", "jar", "msi", "nrg", "pkg", "rpm", "run", "sh"}},
  };
  return *table;
}

const absl::flat_hash_map<std::string, FileKind>& ByExtension() {
  static const auto* map = [] {
    auto* m = new absl::flat_hash_map<std::string, FileKind>();
    for (const KindRow& row : Table()) {
      for (const char* ext : row.extensions) m->emplace(ext, row.kind);
    }
    return m;
  }();
  return *map;
}

}  // namespace

FileKind KindOfExtension(absl::string_view extension) {
  const auto& map = ByExtension();
  auto it = map.find(extension);
  return it == map.end() ? FILE_KIND_ANY : it->second;
}

std::vector<std::string> ExtensionsOfKind(FileKind kind) {
  std::vector<std::string> out;
  for (const KindRow& row : Table()) {
    if (row.kind != kind) continue;
    for (const char* ext : row.extensions) out.emplace_back(ext);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::string_view KindName(FileKind kind) {
  for (const KindRow& row : Table()) {
    if (row.kind == kind) return row.name;
  }
  return "any";
}

std::optional<FileKind> ParseKind(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (lower == "any" || lower.empty()) return FILE_KIND_ANY;
  for (const KindRow& row : Table()) {
    if (lower == row.name) return row.kind;
  }
  return std::nullopt;
}

}  // namespace search
}  // namespace trove
