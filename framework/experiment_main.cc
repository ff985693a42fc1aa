#include "framework/experiment.h"

int main(int argc, char** argv) { return framework::ExperimentMain(argc, argv); }
