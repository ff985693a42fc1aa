// A GPT language model as nanoGPT (model.py) and GPT-2 build it: token and
// learned position embeddings, pre-LayerNorm blocks of causal multi-head
// self-attention and a GELU MLP, a final LayerNorm, and output weights tied
// to the token embedding; dropout after the embeddings, on the attention
// weights and on each residual branch. GPT-2's initialisation: N(0, 0.02)
// for linear and embedding weights, zero biases, and the residual
// projections (attn.c_proj, mlp.c_proj) at N(0, 0.02 / sqrt(2 n_layer)).
//
// The module names are nanoGPT's (transformer.wte, transformer.h.0.attn.
// c_attn, ...). Two differences in the state dict, both from LibTorch's C++
// API: the tied output projection is the token embedding itself, so there is
// no separate "lm_head.weight" (C++ modules do not deduplicate a shared
// parameter, and an optimizer given it twice would step it twice); and the
// causal mask is computed, not a buffer ("attn.bias" in nanoGPT without
// flash attention).
//
// Input: token ids [batch, T] (int64, T <= block_size); output: logits
// [batch, T, vocab_size].
#include <cmath>
#include <limits>
#include <memory>

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "absl/strings/str_cat.h"
#include "framework/core/declared_options.h"
#include "framework/model/model.h"

namespace plugins {
namespace {

namespace F = torch::nn::functional;

struct GptConfig {
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t n_embd = 128;
  int64_t block_size = 128;
  int64_t vocab_size = 65;
  double dropout = 0.0;
  bool bias = true;
};

// nanoGPT's LayerNorm: an optional bias, eps 1e-5.
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t size, bool bias) : size_(size) {
    weight_ = register_parameter("weight", torch::ones({size}));
    if (bias) bias_ = register_parameter("bias", torch::zeros({size}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::layer_norm(x, {size_}, weight_, bias_, 1e-5);
  }

 private:
  int64_t size_;
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(LayerNorm);

torch::nn::Linear MakeLinear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit CausalSelfAttentionImpl(const GptConfig& config)
      : n_head_(config.n_head), n_embd_(config.n_embd) {
    c_attn_ = register_module("c_attn", MakeLinear(config.n_embd, 3 * config.n_embd, config.bias));
    c_proj_ = register_module("c_proj", MakeLinear(config.n_embd, config.n_embd, config.bias));
    attn_dropout_ = register_module("attn_dropout", torch::nn::Dropout(config.dropout));
    resid_dropout_ = register_module("resid_dropout", torch::nn::Dropout(config.dropout));
  }
  torch::nn::Linear& c_proj() { return c_proj_; }

  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t batch = x.size(0), time = x.size(1), channels = x.size(2);
    const int64_t head_size = channels / n_head_;
    std::vector<torch::Tensor> qkv = c_attn_->forward(x).split(n_embd_, 2);
    auto heads = [&](const torch::Tensor& t) {
      return t.view({batch, time, n_head_, head_size}).transpose(1, 2);
    };
    const torch::Tensor q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
    torch::Tensor att = q.matmul(k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_size)));
    const torch::Tensor mask =
        torch::ones({time, time}, x.options().dtype(torch::kBool)).tril().view({1, 1, time, time});
    att = att.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
    att = attn_dropout_->forward(torch::softmax(att, -1));
    torch::Tensor y = att.matmul(v).transpose(1, 2).contiguous().view({batch, time, channels});
    return resid_dropout_->forward(c_proj_->forward(y));
  }

 private:
  int64_t n_head_, n_embd_;
  torch::nn::Linear c_attn_{nullptr}, c_proj_{nullptr};
  torch::nn::Dropout attn_dropout_{nullptr}, resid_dropout_{nullptr};
};
TORCH_MODULE(CausalSelfAttention);

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const GptConfig& config) {
    c_fc_ = register_module("c_fc", MakeLinear(config.n_embd, 4 * config.n_embd, config.bias));
    c_proj_ = register_module("c_proj", MakeLinear(4 * config.n_embd, config.n_embd, config.bias));
    dropout_ = register_module("dropout", torch::nn::Dropout(config.dropout));
  }
  torch::nn::Linear& c_proj() { return c_proj_; }
  torch::Tensor forward(const torch::Tensor& x) {
    return dropout_->forward(c_proj_->forward(torch::gelu(c_fc_->forward(x))));
  }

 private:
  torch::nn::Linear c_fc_{nullptr}, c_proj_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const GptConfig& config) {
    ln_1_ = register_module("ln_1", LayerNorm(config.n_embd, config.bias));
    attn_ = register_module("attn", CausalSelfAttention(config));
    ln_2_ = register_module("ln_2", LayerNorm(config.n_embd, config.bias));
    mlp_ = register_module("mlp", Mlp(config));
  }
  std::vector<torch::Tensor> residual_projections() {
    return {attn_->c_proj()->weight, mlp_->c_proj()->weight};
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x + attn_->forward(ln_1_->forward(x));
    return x + mlp_->forward(ln_2_->forward(x));
  }

 private:
  LayerNorm ln_1_{nullptr}, ln_2_{nullptr};
  CausalSelfAttention attn_{nullptr};
  Mlp mlp_{nullptr};
};
TORCH_MODULE(Block);

// nanoGPT's `transformer` ModuleDict.
class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const GptConfig& config) {
    wte = register_module("wte", torch::nn::Embedding(config.vocab_size, config.n_embd));
    wpe = register_module("wpe", torch::nn::Embedding(config.block_size, config.n_embd));
    drop = register_module("drop", torch::nn::Dropout(config.dropout));
    h = register_module("h", torch::nn::ModuleList());
    for (int64_t i = 0; i < config.n_layer; ++i) {
      blocks.push_back(Block(config));
      h->push_back(blocks.back());
    }
    ln_f = register_module("ln_f", LayerNorm(config.n_embd, config.bias));
  }
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::nn::ModuleList h{nullptr};
  std::vector<Block> blocks;
  LayerNorm ln_f{nullptr};
};
TORCH_MODULE(Transformer);

class Gpt : public framework::Model {
 public:
  explicit Gpt(const GptConfig& config) : block_size_(config.block_size) {
    transformer_ = register_module("transformer", Transformer(config));
    torch::NoGradGuard no_grad;
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* linear = module->as<torch::nn::Linear>()) {
        torch::nn::init::normal_(linear->weight, 0.0, 0.02);
        if (linear->bias.defined()) torch::nn::init::zeros_(linear->bias);
      } else if (auto* embedding = module->as<torch::nn::Embedding>()) {
        torch::nn::init::normal_(embedding->weight, 0.0, 0.02);
      }
    }
    const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(config.n_layer));
    for (Block& block : transformer_->blocks) {
      for (torch::Tensor weight : block->residual_projections()) {
        torch::nn::init::normal_(weight, 0.0, residual_std);
      }
    }
  }

  torch::Tensor forward(torch::Tensor tokens) override {
    const int64_t time = tokens.size(1);
    TORCH_CHECK(time <= block_size_, "a sequence of ", time, " tokens is longer than block_size ",
                block_size_);
    const torch::Tensor positions =
        torch::arange(time, tokens.options().dtype(torch::kLong));
    torch::Tensor x = transformer_->drop->forward(transformer_->wte->forward(tokens) +
                                                  transformer_->wpe->forward(positions));
    for (Block& block : transformer_->blocks) x = block->forward(x);
    x = transformer_->ln_f->forward(x);
    // The tied output projection (nanoGPT's lm_head, bias-free).
    return F::linear(x, transformer_->wte->weight);
  }

 private:
  int64_t block_size_;
  Transformer transformer_{nullptr};
};

absl::StatusOr<std::shared_ptr<framework::Model>> BuildGpt(const framework::OptionValues& options) {
  GptConfig config;
  config.n_layer = options.Int("n_layer");
  config.n_head = options.Int("n_head");
  config.n_embd = options.Int("n_embd");
  config.block_size = options.Int("block_size");
  config.vocab_size = options.Int("vocab_size");
  config.dropout = options.Double("dropout");
  config.bias = options.Bool("bias");
  if (config.n_embd % config.n_head != 0) {
    return absl::InvalidArgumentError(absl::StrCat("option 'n_embd' of model 'gpt' (", config.n_embd,
                                                   ") must divide by 'n_head' (", config.n_head, ")"));
  }
  return std::shared_ptr<framework::Model>(std::make_shared<Gpt>(config));
}

}  // namespace

REGISTER_MODEL("gpt", BuildGpt,
               framework::DeclaredOptions{
                   framework::IntOption("n_layer", 4, "Transformer blocks.").AtLeast(1),
                   framework::IntOption("n_head", 4, "Attention heads per block.").AtLeast(1),
                   framework::IntOption("n_embd", 128, "Embedding width (divides by n_head).")
                       .AtLeast(1),
                   framework::IntOption("block_size", 128, "Longest sequence (context length).")
                       .AtLeast(1),
                   framework::IntOption("vocab_size", 65, "Token ids are 0 .. vocab_size - 1.")
                       .AtLeast(1),
                   framework::DoubleOption("dropout", 0.0, "Dropout probability.")
                       .AtLeast(0)
                       .Below(1),
                   framework::BoolOption("bias", true,
                                         "Biases in the linear layers and LayerNorms (GPT-2: "
                                         "true)."),
               });

}  // namespace plugins
