#include "peer_client/transfer/download_types.h"

namespace trove {

const char* DownloadStateName(DownloadState state) {
  switch (state) {
    case DownloadState::kWaitingForNetwork: return "waiting_for_network";
    case DownloadState::kLocating: return "locating";
    case DownloadState::kWaitingForSources: return "waiting_for_sources";
    case DownloadState::kQueued: return "queued";
    case DownloadState::kDownloading: return "downloading";
    case DownloadState::kPaused: return "paused";
    case DownloadState::kDone: return "done";
    case DownloadState::kFailed: return "failed";
    case DownloadState::kCancelled: return "cancelled";
  }
  return "unknown";
}

const char* DownloadStateText(DownloadState state) {
  switch (state) {
    case DownloadState::kWaitingForNetwork: return "waiting for the network";
    case DownloadState::kLocating: return "looking for sources";
    case DownloadState::kWaitingForSources: return "waiting for sources";
    case DownloadState::kQueued: return "queued";
    case DownloadState::kDownloading: return "downloading";
    case DownloadState::kPaused: return "paused";
    case DownloadState::kDone: return "done";
    case DownloadState::kFailed: return "failed";
    case DownloadState::kCancelled: return "cancelled";
  }
  return "unknown";
}

bool IsFinalState(DownloadState state) {
  return state == DownloadState::kDone || state == DownloadState::kFailed ||
         state == DownloadState::kCancelled;
}

}  // namespace trove
