// RUN: conveyor opt %s -c tiny --passes lower-to-tile,schedule | filecheck %s --check-prefix=SCHED
// RUN: conveyor opt %s -c tiny --passes lower-to-tile,schedule,emit-microcode | filecheck %s --check-prefix=MICRO

// A 4x4x4 matmul on tiny: 4 weight rows load one per cycle (lw), iw installs them, 4 rows
// multiply back to back, and each accumulator row goes west as an int32 group to four planes.
// SCHED-LABEL: module @mm attributes {level = "schedule", target = {name = "tiny",
// SCHED:       sched.queue {queue = "mxm0.w", cycles = [8, 9, 10, 11, 12], code = "lw e0 -> row[0]\nlw e0 -> row[1]\nlw e0 -> row[2]\nlw e0 -> row[3]\niw"}
// SCHED-NEXT:  sched.queue {queue = "mxm0.mm", cycles = [13, 14, 15, 16], code = "mm.set e0 -> acc[0]\nmm.set e0 -> acc[1]\nmm.set e0 -> acc[2]\nmm.set e0 -> acc[3]"}
// SCHED-NEXT:  sched.queue {queue = "mxm0.acc", cycles = [17, 18, 19, 20], code = "accrd acc[0] -> w0:4\naccrd acc[1] -> w0:4\naccrd acc[2] -> w0:4\naccrd acc[3] -> w0:4"}
// SCHED:       sched.summary {cycles = {{[0-9]+}}, macs = 64}

// MICRO-LABEL: module @mm attributes {level = "microcode", target = {name = "tiny",
// MICRO:       micro.queue {name = "mem0.rd", code = "nop {{[0-9]+}}\nread 0 -> e0\nrepeat 3, 1, 1\nhalt"}
// MICRO:       micro.queue {name = "mxm0.w", code = "nop {{[0-9]+}}\nlw e{{[0-9]}} -> row[0]\nrepeat 3, 1, 1\niw\nhalt"}
// MICRO:       micro.queue {name = "mxm0.mm", code = "nop {{[0-9]+}}\nmm.set e{{[0-9]}} -> acc[0]\nrepeat 3, 1, 1\nhalt"}
// MICRO:       micro.queue {name = "mxm0.acc", code = "nop {{[0-9]+}}\naccrd acc[0] -> w0:4\nrepeat 3, 1, 1\nhalt"}
// MICRO:       micro.output {name = "y", dtype = "i32", shape = [4, 4], rows = 4, at = "{{mem[0-9]@0,mem[0-9]@0,mem[0-9]@0,mem[0-9]@0}}", view = [4, 4], columns = [0, 4]}
// MICRO:       micro.summary {cycles = {{[0-9]+}}, macs = 64}
module @mm attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<4x4xi8>
  %w = graph.const {value = dense<1> : tensor<4x4xi8>} : tensor<4x4xi8>
  %y = graph.matmul %x, %w : tensor<4x4xi32>
  graph.output %y {name = "y"}
}
