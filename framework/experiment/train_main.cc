// main() of //experiments:train, the framework with every plugin and no flag
// file of its own.
#include "framework/experiment/experiment_main.h"

int main(int argc, char** argv) { return framework::ExperimentMain(argc, argv, nullptr); }
