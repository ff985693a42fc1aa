#!/usr/bin/env bash
# Bad input to an experiment binary: each case must exit non-zero with an
# error that names the input and the problem.
set -u
TRAIN="$1"
DATA=/usr/share/datasets/fashion-mnist
source "$(dirname "$0")/shell_checks.sh"

expect_error() {
  local name=$1 expected=$2
  shift 2
  local output rc
  output=$("${TRAIN}" --progress=never --run_dir="${TEST_TMPDIR}/run" "$@" 2>&1)
  rc=$?
  if [[ ${rc} -eq 0 ]]; then
    echo "FAIL ${name}: exited 0"; echo "${output}" | tail -5
    failed=$((failed + 1))
  elif ! grep -qF -- "${expected}" <<<"${output}"; then
    echo "FAIL ${name}: exit ${rc}, output lacks '${expected}':"; echo "${output}" | tail -5
    failed=$((failed + 1))
  else
    echo "ok   ${name}: $(grep -F -- "${expected}" <<<"${output}" | head -1)"
    passed=$((passed + 1))
  fi
}

mkdir -p "${TEST_TMPDIR}/empty" "${TEST_TMPDIR}/truncated"
cp "${DATA}"/*.gz "${TEST_TMPDIR}/truncated/"
head -c 100000 "${DATA}/train-images-idx3-ubyte.gz" > "${TEST_TMPDIR}/truncated/train-images-idx3-ubyte.gz"
printf -- '--model=lenet\n--lernrate=0.1\n' > "${TEST_TMPDIR}/typo.flags"
touch "${TEST_TMPDIR}/a_file"

expect_error missing_data "${TEST_TMPDIR}/empty/train-images-idx3-ubyte.gz: No such file" \
  --data_dir="${TEST_TMPDIR}/empty"
expect_error missing_data_names_package "dataset-fashion-mnist" --data_dir="${TEST_TMPDIR}/empty"
expect_error truncated_data "truncated/train-images-idx3-ubyte.gz: corrupt or truncated gzip data" \
  --data_dir="${TEST_TMPDIR}/truncated"
expect_error unknown_model "--model: unknown model 'resnet'; registered models: autoencoder, gpt, lenet, mlp, resnet18, resnet34, small_cnn" \
  --model=resnet
expect_error unknown_trainer "registered trainers: autoencoder, classification" --trainer=gan
expect_error unknown_optimizer "registered optimizers: adagrad, adam, adamw, rmsprop, sgd" --optimizer=lbfgs
expect_error unknown_scheduler "registered schedulers: cosine, exponential, multistep, none, plateau, step" \
  --scheduler=cyclic
expect_error unknown_dataset "registered datasets: fashion_mnist, image_folder, synthetic, tar_shards, token_file" --dataset=cifar
expect_error unknown_transform "--transforms entry 1: unknown transform 'rotate'; registered transforms: center_crop, horizontal_flip, normalize, random_crop, random_resized_crop, resize" \
  --transforms='[{"horizontal_flip": {}}, {"rotate": {}}]'
expect_error transforms_not_a_list "--transforms: expected a JSON list" --transforms='{"horizontal_flip": {}}'
expect_error transform_option_range "--transforms entry 0 key \"p\": option 'p' of transform 'horizontal_flip' must be in [0, 1], got 2" \
  --transforms='[{"horizontal_flip": {"p": 2}}]'
expect_error transform_size_required "--transforms entry 0 key \"size\": transform 'center_crop' needs option 'size'" \
  --transforms='[{"center_crop": {}}]'
expect_error crop_too_large "--transforms: transform 0 (center_crop): a crop of 32x32 does not fit samples of 28x28" \
  --transforms='[{"center_crop": {"size": 32}}]'
expect_error shapes_disagree "--valid_transforms: validation samples would be" --transforms='[{"center_crop": {"size": 24}}]'
expect_error negative_workers "--data_workers: must be >= 0 (or -1: auto), got -2" --data_workers=-2
expect_error zero_lr "--lr: option 'lr' of optimizer 'sgd' must be > 0, got 0.0" --lr=0
expect_error negative_lr "--lr: option 'lr' of optimizer 'sgd' must be > 0, got -0.1" --lr=-0.1
expect_error bad_lr "--lr: 'fast' is not a number" --lr=fast
expect_error zero_batch "--batch_size: must be >= 1, got 0" --batch_size=0
expect_error one_class "--classes: must be >= 2" --classes=1
expect_error fewer_classes_than_data "--classes: 5 is fewer than the 10 classes" --classes=5 --dataset=synthetic
expect_error negative_epochs "--epochs: must be >= 0, got -1" --epochs=-1
expect_error unknown_flag_in_file "typo.flags:2: unknown flag --lernrate" --flagfile="${TEST_TMPDIR}/typo.flags"
expect_error missing_flag_file "flag file: cannot open ${TEST_TMPDIR}/none.flags" --flagfile="${TEST_TMPDIR}/none.flags"
expect_error unknown_flag_on_command_line "unknown command line flag 'lernrate'" --lernrate=0.1
expect_error unwritable_run_dir "--run_dir: cannot create directory ${TEST_TMPDIR}/a_file/run" \
  --run_dir="${TEST_TMPDIR}/a_file/run"
expect_error cuda_without_cuda "--device: 'cuda' needs CUDA" --device=cuda
expect_error bad_device "--device: 'tpu:0' is not a device" --device=tpu:0
expect_error bad_model_options "--model_options: '{bad' is not a JSON object" --model_options='{bad'
# A value from a flag file is named with its file and line; the command line
# overrides the file, and then the flag alone is named.
printf -- '--dataset=synthetic\n# a comment\n--batch_size=0\n--lr=-1\n' > "${TEST_TMPDIR}/bad_values.flags"
expect_error flag_file_line "--batch_size (${TEST_TMPDIR}/bad_values.flags:3): must be >= 1" \
  --flagfile="${TEST_TMPDIR}/bad_values.flags"
expect_error option_flag_file_line "--lr (${TEST_TMPDIR}/bad_values.flags:4): option 'lr' of optimizer 'sgd' must be > 0" \
  --flagfile="${TEST_TMPDIR}/bad_values.flags" --batch_size=8
expect_error command_line_named_alone "--batch_size: must be >= 1, got -1" \
  --flagfile="${TEST_TMPDIR}/bad_values.flags" --batch_size=-1
expect_error dataset_option_typo "--dataset_options key \"train_sise\": dataset 'synthetic' has no option 'train_sise'" \
  --dataset=synthetic --dataset_options='{"train_sise":64}'
expect_error dataset_option_range "--dataset_options key \"train_size\": option 'train_size' of dataset 'synthetic' must be >= 1, got 0" \
  --dataset=synthetic --dataset_options='{"train_size":0}'
expect_error dataset_without_options "dataset 'fashion_mnist' has no option 'train_size'; its options are none" \
  --dataset_options='{"train_size":64}'
expect_error model_option_typo "--model_options key \"dropuot\": model 'mlp' has no option 'dropuot'" --model=mlp \
  --model_options='{"dropuot":0.5}' --dataset=synthetic
expect_error multistep_without_milestones "--milestones: scheduler 'multistep' needs option 'milestones'" \
  --scheduler=multistep --dataset=synthetic
expect_error bad_milestones "--milestones: 'x,2' is not a list of integers" --scheduler=multistep \
  --milestones=x,2
expect_error zero_milestone "--scheduler_options key \"milestones\": option 'milestones' of scheduler 'multistep' must hold integers >= 1, got [0,2]" \
  --scheduler=multistep --scheduler_options='{"milestones":[0,2]}'
expect_error nesterov_without_momentum "option 'nesterov' needs 'momentum' > 0" --nesterov --dataset=synthetic
# Every declared range is enforced, and named where it was set.
expect_error negative_t_max "--t_max: option 't_max' of scheduler 'cosine' must be >= 0, got -3" \
  --scheduler=cosine --t_max=-3
expect_error plugin_option_range "--optimizer_options key \"lr_decay\": option 'lr_decay' of optimizer 'adagrad' must be >= 0, got -1.0" \
  --optimizer=adagrad --optimizer_options='{"lr_decay":-1}'
expect_error plugin_option_typo "--optimizer_options key \"lr_dacay\": optimizer 'adagrad' has no option 'lr_dacay'" \
  --optimizer=adagrad --optimizer_options='{"lr_dacay":0.1}'
expect_error option_set_twice "--momentum and --optimizer_options key \"momentum\" both set" \
  --momentum=0.9 --optimizer_options='{"momentum":0.8}'
expect_error plateau_after_warmup "--warmup_epochs: 2: --scheduler=plateau cannot follow a warm-up" \
  --scheduler=plateau --warmup_epochs=2
expect_error resume_from_nothing "--resume_from: ${TEST_TMPDIR}/nonexistent.pt does not exist" \
  --resume_from="${TEST_TMPDIR}/nonexistent.pt"

# A flag that sets an option the selected plugin lacks is ignored, saying so:
# a flag file's --step_size must not stop a command line's --scheduler=cosine.
"${TRAIN}" --progress=never --run_dir="${TEST_TMPDIR}/ignored" --dataset=synthetic --epochs=0 \
  --optimizer=adam --momentum=0.9 --scheduler=cosine --step_size=10 > "${TEST_TMPDIR}/ignored.log" 2>&1
check "an option of another plugin still runs" test $? -eq 0
check "... saying the optimizer lacks it" grep -qF -e \
  "--momentum=0.9 is ignored: optimizer 'adam' has no option 'momentum' (its options: lr, beta1" \
  "${TEST_TMPDIR}/ignored.log"
check "... and the schedule" grep -qF -e "--step_size=10 is ignored: scheduler 'cosine' has no option" \
  "${TEST_TMPDIR}/ignored.log"
check "... and records only the options it has" bash -c \
  "grep -q '\"scheduler.t_max\"' '${TEST_TMPDIR}/ignored/flags.json' && ! grep -q '\"scheduler.step_size\"' '${TEST_TMPDIR}/ignored/flags.json'"

expect_error negative_clip_grad_norm "--clip_grad_norm: must be a number >= 0 (0: off), got -1" \
  --clip_grad_norm=-1
expect_error bad_clip_grad_norm_type "--clip_grad_norm_type: must be a number > 0 (2: the Euclidean norm) or inf, got 'two'" \
  --clip_grad_norm_type=two
expect_error negative_clip_grad_value "--clip_grad_value: must be a number >= 0 (0: off), got -0.5" \
  --clip_grad_value=-0.5
expect_error ema_decay_out_of_range "--ema_decay: option 'decay' of callback 'ema' must be in [0, 1), got 1.5" \
  --ema_decay=1.5
expect_error ema_decay_not_a_number "--ema_decay: 'abc' is not a number" --ema_decay=abc
expect_error ema_warmup_not_a_bool "--ema_warmup: 'maybe' is not true or false" --ema_warmup=maybe
expect_error zero_patience "--early_stop_patience: option 'patience' of callback 'early_stopping' must be >= 1, got 0" \
  --early_stop_patience=0
expect_error negative_min_delta "--early_stop_min_delta: option 'min_delta' of callback 'early_stopping' must be >= 0" \
  --early_stop_min_delta=-1
expect_error zero_accumulation "--accumulate_batches: must be >= 1, got 0" --accumulate_batches=0
expect_error batch_not_divisible_by_micro_batches \
  "--batch_size: is the global batch, split evenly over 1 rank(s) and --accumulate_batches=4 micro-batches each: 30 does not divide by 4" \
  --batch_size=30 --accumulate_batches=4
expect_error unknown_callback "--callbacks: unknown callback 'nope'; registered callbacks: early_stopping, ema, smoothed_loss" \
  --callbacks=nope
expect_error callback_twice "--callbacks: names 'ema' twice" --callbacks=ema,ema
expect_error options_of_unselected_callback "--callback_options: has options for callback 'smoothed_loss', which is not selected" \
  '--callback_options={"smoothed_loss":{"beta":0.5}}'
expect_error unknown_callback_option "--callback_options key \"smoothed_loss\".\"bta\": callback 'smoothed_loss' has no option 'bta'; its options are beta" \
  --callbacks=smoothed_loss '--callback_options={"smoothed_loss":{"bta":1}}'
expect_error callback_option_out_of_range "--callback_options key \"smoothed_loss\".\"beta\": option 'beta' of callback 'smoothed_loss' must be in [0, 1), got 1.0" \
  --callbacks=smoothed_loss '--callback_options={"smoothed_loss":{"beta":1}}'
expect_error callback_option_set_twice "--ema_decay and --callback_options key \"ema\".\"decay\" both set option 'decay' of callback 'ema': give one" \
  '--callback_options={"ema":{"decay":0.5}}' --ema_decay=0.9
expect_error callback_options_not_an_object "--callback_options: key \"smoothed_loss\" must be a JSON object of the callback's options, got 3" \
  --callbacks=smoothed_loss '--callback_options={"smoothed_loss":3}'
expect_error unknown_monitor "--monitor: 'valid_ema_loss' is not a value this run records; it records train_loss, valid_loss, train_acc, valid_acc, lr, seconds" \
  --dataset=synthetic --model=mlp --monitor=valid_ema_loss
finish_checks
