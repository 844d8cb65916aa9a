// Maps a checkpoint file into a SharedArrayBuffer: the page cache's own pages, read-only on disk
// (MAP_PRIVATE: a write copies the page and never reaches the file). The mapping is undone when
// the last thread holding the buffer lets it go. V8's API rather than Node-API: only V8 makes a
// SharedArrayBuffer (which worker threads share without a copy) over memory it did not allocate.
#include <node.h>
#include <v8.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

void Unmap(void* data, size_t length, void* /*deleter_data*/) {
  if (length > 0) munmap(data, length);
}

void Throw(v8::Isolate* isolate, const std::string& message, int err) {
  v8::Local<v8::Value> error =
      v8::Exception::Error(v8::String::NewFromUtf8(isolate, message.c_str()).ToLocalChecked());
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  error.As<v8::Object>()
      ->Set(context, v8::String::NewFromUtf8Literal(isolate, "errno"), v8::Integer::New(isolate, err))
      .Check();
  isolate->ThrowException(error);
}

// mapFile(path: string): SharedArrayBuffer over the whole file (which must not be empty).
void MapFile(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (args.Length() < 1 || !args[0]->IsString()) {
    isolate->ThrowException(
        v8::Exception::TypeError(v8::String::NewFromUtf8Literal(isolate, "mapFile(path: string)")));
    return;
  }
  v8::String::Utf8Value path(isolate, args[0]);
  int fd = open(*path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Throw(isolate, std::string("open ") + *path + ": " + strerror(errno), errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return Throw(isolate, std::string("fstat ") + *path + ": " + strerror(err), err);
  }
  size_t length = static_cast<size_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || length == 0) {
    close(fd);
    return Throw(isolate, std::string(*path) + " is not a non-empty regular file", EINVAL);
  }
  void* data = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (data == MAP_FAILED) return Throw(isolate, std::string("mmap ") + *path + ": " + strerror(err), err);
  // Read front to back by the hash: a larger read-ahead window when the pages are not cached.
  madvise(data, length, MADV_SEQUENTIAL);
  std::unique_ptr<v8::BackingStore> store = v8::SharedArrayBuffer::NewBackingStore(data, length, Unmap, nullptr);
  args.GetReturnValue().Set(v8::SharedArrayBuffer::New(isolate, std::move(store)));
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "mapFile", MapFile);
}
