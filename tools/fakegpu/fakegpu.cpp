// An emulated GPU for tests: PyTorch's PrivateUse1 backend, keeping values in host memory and computing with
// the CPU kernels, but a separate device to PyTorch (a tensor must be moved to it; mixing it with a CPU tensor
// raises the error CUDA raises). Loaded by tools/fakegpu/__init__.py with torch.utils.cpp_extension.load;
// everything here registers itself when the library is loaded (no Python bindings).
// Reference: pytorch/pytorch test/cpp_extensions/open_registration_extension (the open-registration test backend).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/EmptyTensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <ATen/ops/as_strided_native.h>
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/library.h>

#include <cstring>
#include <sstream>

namespace {

constexpr c10::DeviceType kDev = c10::DeviceType::PrivateUse1;
const c10::Device kDevice(kDev, 0);
const c10::DispatchKeySet kDevKeys(c10::DispatchKey::PrivateUse1);
const c10::DispatchKeySet kCpuKeys(c10::DispatchKey::CPU);

// 1. Memory: host memory, tagged with the emulated device.
struct HostAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) override {
    void* p = n ? c10::alloc_cpu(n) : nullptr;
    return {p, p, &release, kDevice};
  }
  static void release(void* p) { if (p) c10::free_cpu(p); }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dst, const void* src, std::size_t n) const override { default_copy_data(dst, src, n); }
};
HostAllocator g_alloc;

// 2. One device, a default stream, events that do nothing (work is done when the call returns).
struct OneDeviceGuard final : c10::impl::DeviceGuardImplInterface {
  c10::DeviceType type() const override { return kDev; }
  c10::Device exchangeDevice(c10::Device) const override { return kDevice; }
  c10::Device getDevice() const override { return kDevice; }
  void setDevice(c10::Device d) const override {
    TORCH_CHECK(d.index() <= 0, "the emulated GPU has one device (index 0), not ", d);
  }
  void uncheckedSetDevice(c10::Device) const noexcept override {}
  c10::Stream getStream(c10::Device) const noexcept override { return c10::Stream(c10::Stream::DEFAULT, kDevice); }
  c10::Stream getDefaultStream(c10::Device) const override { return c10::Stream(c10::Stream::DEFAULT, kDevice); }
  c10::Stream getStreamFromGlobalPool(c10::Device, bool = false) const override { return c10::Stream(c10::Stream::DEFAULT, kDevice); }
  c10::Stream getNewStream(c10::Device, int = 0) const override { return c10::Stream(c10::Stream::DEFAULT, kDevice); }
  c10::Stream exchangeStream(c10::Stream) const noexcept override { return c10::Stream(c10::Stream::DEFAULT, kDevice); }
  c10::DeviceIndex deviceCount() const noexcept override { return 1; }
  void destroyEvent(void*, const c10::DeviceIndex) const noexcept override {}
  void record(void**, const c10::Stream&, const c10::DeviceIndex, const c10::EventFlag) const override {}
  void block(void*, const c10::Stream&) const override {}
  bool queryEvent(void*) const override { return true; }
  bool queryStream(const c10::Stream&) const override { return true; }
  void synchronizeStream(const c10::Stream&) const override {}
  void synchronizeEvent(void*) const override {}
  void synchronizeDevice(const c10::DeviceIndex) const override {}
  void recordDataPtrOnStream(const c10::DataPtr&, const c10::Stream&) const override {}
  double elapsedTime(void*, void*, const c10::DeviceIndex) const override { return 0.0; }
};

// 3. Hooks: the device is there, its random numbers are the CPU's (so a seeded run matches a CPU run), pinned
//    memory is ordinary host memory.
struct Hooks final : at::PrivateUse1HooksInterface {
  bool isBuilt() const override { return true; }
  bool isAvailable() const override { return true; }
  bool hasPrimaryContext(c10::DeviceIndex) const override { return true; }
  void init() const override {}
  c10::DeviceIndex deviceCount() const override { return 1; }
  void setCurrentDevice(c10::DeviceIndex) const override {}
  c10::DeviceIndex getCurrentDevice() const override { return 0; }
  c10::DeviceIndex exchangeDevice(c10::DeviceIndex) const override { return 0; }
  c10::DeviceIndex maybeExchangeDevice(c10::DeviceIndex) const override { return 0; }
  const at::Generator& getDefaultGenerator(c10::DeviceIndex) const override { return at::detail::getDefaultCPUGenerator(); }
  at::Generator getNewGenerator(c10::DeviceIndex) const override { return at::detail::createCPUGenerator(); }
  at::Device getDeviceFromPtr(void*) const override { return kDevice; }
  bool isPinnedPtr(const void*) const override { return false; }
  c10::Allocator* getPinnedMemoryAllocator() const override { return c10::GetCPUAllocator(); }
  void resizePrivateUse1Bytes(const c10::Storage& storage, size_t n) const override {
    auto* impl = storage.unsafeGetStorageImpl();
    TORCH_CHECK(impl->resizable(), "Trying to resize storage that is not resizable");
    c10::DataPtr fresh = g_alloc.allocate(n);
    size_t keep = std::min(n, impl->nbytes());
    if (keep) std::memcpy(fresh.get(), impl->data(), keep);
    impl->set_data_ptr_noswap(std::move(fresh));
    impl->set_nbytes(n);
  }
};

// 4. Aliases without copies: a CPU tensor over a device tensor's memory (and back). Each alias keeps the other
//    storage alive through its deleter.
c10::Storage storage_over(const c10::Storage& src, c10::Device device, c10::Allocator* alloc) {
  void* data = const_cast<void*>(src.data());
  c10::DataPtr dp = c10::InefficientStdFunctionContext::makeDataPtr(data, [keep = src](void*) {}, device);
  return c10::Storage(c10::Storage::use_byte_size_t(), src.nbytes(), std::move(dp), alloc, /*resizable=*/true);
}

at::Tensor tensor_over(c10::Storage st, c10::DispatchKeySet ks, const at::Tensor& like) {
  auto t = at::detail::make_tensor<c10::TensorImpl>(std::move(st), ks, like.dtype());
  t.unsafeGetTensorImpl()->set_sizes_and_strides(like.sizes(), like.strides(), like.storage_offset());
  return t;
}

at::Tensor cpu_alias(const at::Tensor& t) {
  if (!t.defined() || t.device().type() != kDev) return t;
  return tensor_over(storage_over(t.storage(), c10::Device(c10::kCPU), c10::GetCPUAllocator()), kCpuKeys, t);
}

std::string dev_name() { return "cuda:0"; }

[[noreturn]] void mixed_devices(const c10::OperatorHandle& op, const std::string& arg) {
  std::ostringstream s;
  s << "Expected all tensors to be on the same device, but got " << arg << " is on cpu, different from other "
    << "tensors on " << dev_name() << " (when checking argument in method " << op.schema().name()
    << ", on the emulated GPU)";
  TORCH_CHECK(false, s.str());
}

// CUDA accepts CPU tensors with 0 dimensions next to device tensors (they are scalars), and CPU index tensors.
bool cpu_allowed(const c10::OperatorHandle& op, const at::Tensor& t) {
  if (t.dim() == 0) return true;
  const auto& n = op.schema().name();
  return n == "aten::index" || n == "aten::index_put_" || n == "aten::_index_put_impl_" || n == "aten::index_put";
}

// 5. Every operator without a kernel of its own comes here: check devices, alias the device tensors as CPU
//    tensors, run the CPU kernel, and hand the results back as device tensors (views stay views of the input).
void fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const auto& schema = op.schema();
  const size_t n_args = schema.arguments().size();
  const size_t begin = stack->size() - n_args;
  std::vector<at::Tensor> orig, alias;
  std::string cpu_arg;
  auto in = [&](const at::Tensor& t, size_t i) -> at::Tensor {
    if (!t.defined()) return t;
    if (t.device().type() == kDev) {
      auto a = cpu_alias(t);
      orig.push_back(t); alias.push_back(a);
      return a;
    }
    if (t.device().is_cpu() && cpu_arg.empty() && !cpu_allowed(op, t)) cpu_arg = schema.arguments()[i].name();
    return t;
  };
  for (size_t i = 0; i < n_args; ++i) {
    auto& iv = (*stack)[begin + i];
    if (iv.isTensor()) iv = in(iv.toTensor(), i);
    else if (iv.isTensorList()) {
      auto l = iv.toTensorList();
      c10::List<at::Tensor> out; out.reserve(l.size());
      for (const at::Tensor& t : l) out.push_back(in(t, i));
      iv = out;
    } else if (iv.isOptionalTensorList()) {
      auto l = iv.toOptionalTensorList();
      c10::List<std::optional<at::Tensor>> out; out.reserve(l.size());
      for (std::optional<at::Tensor> t : l) out.push_back(t.has_value() ? std::optional<at::Tensor>(in(*t, i)) : t);
      iv = out;
    } else if (iv.isDevice() && iv.toDevice().type() == kDev) iv = c10::IValue(c10::Device(c10::kCPU));
  }
  if (!orig.empty() && !cpu_arg.empty()) mixed_devices(op, cpu_arg);

  op.redispatchBoxed(kCpuKeys, stack);

  // Arguments the CPU kernel resized or re-pointed (out= arguments, resize_, set_): the device tensor follows.
  for (size_t j = 0; j < orig.size(); ++j) {
    auto* o = orig[j].unsafeGetTensorImpl();
    auto* a = alias[j].unsafeGetTensorImpl();
    if (a->storage().data() != o->storage().data() || a->storage().nbytes() != o->storage().nbytes())
      o->set_storage_keep_dtype(storage_over(a->storage(), kDevice, &g_alloc));
    if (a->sizes() != o->sizes() || a->strides() != o->strides() || a->storage_offset() != o->storage_offset())
      o->set_sizes_and_strides(a->sizes(), a->strides(), a->storage_offset());
  }
  auto out = [&](const at::Tensor& t) -> at::Tensor {
    if (!t.defined() || !t.device().is_cpu()) return t;
    for (size_t j = 0; j < alias.size(); ++j)   // in-place and out= results: the argument itself
      if (alias[j].unsafeGetTensorImpl() == t.unsafeGetTensorImpl()) return orig[j];
    const void* p = t.storage().data();
    if (p)
      for (size_t j = 0; j < alias.size(); ++j)   // views: share the device tensor's storage
        if (alias[j].storage().data() == p) return tensor_over(orig[j].storage(), kDevKeys, t);
    return tensor_over(storage_over(t.storage(), kDevice, &g_alloc), kDevKeys, t);
  };
  const size_t n_ret = schema.returns().size();
  const size_t rbegin = stack->size() - n_ret;
  for (size_t i = 0; i < n_ret; ++i) {
    auto& iv = (*stack)[rbegin + i];
    if (iv.isTensor()) iv = out(iv.toTensor());
    else if (iv.isTensorList()) {
      auto l = iv.toTensorList();
      c10::List<at::Tensor> res; res.reserve(l.size());
      for (const at::Tensor& t : l) res.push_back(out(t));
      iv = res;
    }
  }
}

// 6. The few kernels the fallback cannot provide.
at::Tensor empty_memory_format(c10::IntArrayRef size, std::optional<at::ScalarType> dtype, std::optional<at::Layout>,
                               std::optional<at::Device>, std::optional<bool>, std::optional<at::MemoryFormat> mf) {
  return at::detail::empty_generic(size, &g_alloc, kDevKeys, c10::dtype_or_default(dtype), mf);
}

at::Tensor empty_strided(c10::IntArrayRef size, c10::IntArrayRef stride, std::optional<at::ScalarType> dtype,
                         std::optional<at::Layout>, std::optional<at::Device>, std::optional<bool>) {
  return at::detail::empty_strided_generic(size, stride, &g_alloc, kDevKeys, c10::dtype_or_default(dtype));
}

// copies between the CPU and the device, and within the device (the one place where mixing is the point)
at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool) {
  TORCH_CHECK(self.device().is_cpu() || self.device().type() == kDev, "the emulated GPU copies from the CPU or itself, not ", self.device());
  TORCH_CHECK(dst.device().is_cpu() || dst.device().type() == kDev, "the emulated GPU copies to the CPU or itself, not ", dst.device());
  at::Tensor d = cpu_alias(dst);
  d.copy_(cpu_alias(self));
  return dst;
}

at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst) {
  if (dst.sizes() != self.sizes()) dst.resize_(self.sizes());
  return copy_from(self, dst, false);
}

at::Tensor& set_storage_offset(at::Tensor& self, c10::Storage src, int64_t offset, c10::IntArrayRef size, c10::IntArrayRef stride) {
  auto* impl = self.unsafeGetTensorImpl();
  if (src.device().type() != kDev) src = storage_over(src, kDevice, &g_alloc);
  impl->set_storage_keep_dtype(std::move(src));
  impl->set_storage_offset(offset);
  if (stride.data() == nullptr || stride.empty() && !size.empty()) impl->set_sizes_contiguous(size);
  else impl->set_sizes_and_strides(size, stride);
  return self;
}

at::Tensor& set_storage(at::Tensor& self, c10::Storage src) {
  int64_t n = static_cast<int64_t>(src.nbytes() / self.dtype().itemsize());
  return set_storage_offset(self, std::move(src), 0, {n}, {});
}

// convolution on a PrivateUse1 device goes through convolution_overrideable: run the CPU convolution
at::Tensor conv(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation, bool transposed,
                c10::IntArrayRef output_padding, int64_t groups) {
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow("aten::convolution_overrideable", "");
  if (weight.device().is_cpu()) mixed_devices(op, "weight");
  if (input.device().is_cpu()) mixed_devices(op, "input");
  if (bias.has_value() && bias->defined() && bias->device().is_cpu()) mixed_devices(op, "bias");
  std::optional<at::Tensor> b = bias.has_value() ? std::optional<at::Tensor>(cpu_alias(*bias)) : bias;
  at::Tensor r = at::convolution(cpu_alias(input), cpu_alias(weight), b, stride, padding, dilation, transposed,
                                 output_padding, groups);
  return tensor_over(storage_over(r.storage(), kDevice, &g_alloc), kDevKeys, r);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight, c10::IntArrayRef stride,
    c10::IntArrayRef padding, c10::IntArrayRef dilation, bool transposed, c10::IntArrayRef output_padding,
    int64_t groups, std::array<bool, 3> mask) {
  std::vector<int64_t> bias_sizes{weight.size(transposed ? 1 : 0) * (transposed ? groups : 1)};
  auto [gi, gw, gb] = at::convolution_backward(cpu_alias(grad_output), cpu_alias(input), cpu_alias(weight),
      mask[2] ? at::OptionalIntArrayRef(bias_sizes) : at::OptionalIntArrayRef(), stride, padding, dilation,
      transposed, output_padding, groups, mask);
  auto back = [](const at::Tensor& t) {
    return t.defined() ? tensor_over(storage_over(t.storage(), kDevice, &g_alloc), kDevKeys, t) : t;
  };
  return {back(gi), back(gw), back(gb)};
}

// Module.to() keeps the same Parameter objects (param.data = moved) only for "compatible" tensor types; the
// check knows CPU, CUDA and a few others. A CPU and an emulated-GPU dense tensor are compatible here.
bool compatible_shallow_copy(const at::Tensor& self, const at::Tensor& from) {
  auto ok = [](const at::Tensor& t) {
    return t.layout() == at::kStrided && (t.device().is_cpu() || t.device().type() == kDev);
  };
  if (ok(self) && ok(from)) return true;
  return self.unsafeGetTensorImpl()->has_compatible_shallow_copy_type(from.key_set());
}

// Dropout: on a GPU `dropout` takes the fused native_dropout; the CPU takes the composite path. Doing here what
// the CPU does (same random numbers, same arithmetic, same backward) keeps a seeded run bit-identical to the CPU.
std::tuple<at::Tensor, at::Tensor> native_dropout(const at::Tensor& input, double p, std::optional<bool> train) {
  if (train.has_value() && !*train) return {input.clone(), at::ones_like(input, input.options().dtype(at::kBool))};
  if (p == 0 || input.numel() == 0) return {input.clone(), at::ones_like(input, input.options().dtype(at::kBool))};
  at::Tensor noise = at::empty_like(input);
  noise.bernoulli_(1 - p);
  noise.div_(1 - p);
  at::Tensor out = input * noise;
  return {out, noise.ne(0)};
}

}  // namespace

REGISTER_ALLOCATOR(c10::DeviceType::PrivateUse1, &g_alloc);
C10_REGISTER_GUARD_IMPL(PrivateUse1, OneDeviceGuard);

namespace {
struct RegisterHooks {
  RegisterHooks() { at::RegisterPrivateUse1HooksInterface(new Hooks()); }
} register_hooks;
}  // namespace

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&fallback>());
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("empty.memory_format", &empty_memory_format);
  m.impl("empty_strided", &empty_strided);
  m.impl("_copy_from", &copy_from);
  m.impl("_copy_from_and_resize", &copy_from_and_resize);
  m.impl("set_.source_Storage", &set_storage);
  m.impl("set_.source_Storage_storage_offset", &set_storage_offset);
  m.impl("convolution_overrideable", &conv);
  m.impl("convolution_backward_overrideable", &conv_backward);
  m.impl("_has_compatible_shallow_copy_type", &compatible_shallow_copy);
  m.impl("as_strided", at::native::as_strided_tensorimpl);
}

TORCH_LIBRARY_IMPL(aten, AutogradPrivateUse1, m) {
  m.impl("_has_compatible_shallow_copy_type", &compatible_shallow_copy);
  m.impl("native_dropout", &native_dropout);
}
