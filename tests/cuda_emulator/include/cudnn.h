// cuDNN as the CPU emulator provides it: the status type, its strings and the
// version query, which is all the backend's error checking needs. No cuDNN
// computation is emulated (the LSTM through cuDNN runs only on a real GPU);
// cudnnGetVersion answers 0.
#pragma once

#include <cstddef>

enum cudnnStatus_t {
  CUDNN_STATUS_SUCCESS = 0,
  CUDNN_STATUS_NOT_INITIALIZED = 1001,
  CUDNN_STATUS_BAD_PARAM = 2000,
  CUDNN_STATUS_NOT_SUPPORTED = 3000,
  CUDNN_STATUS_INTERNAL_ERROR = 4000,
  CUDNN_STATUS_EXECUTION_FAILED = 5000,
};

const char* cudnnGetErrorString(cudnnStatus_t status);
std::size_t cudnnGetVersion();
