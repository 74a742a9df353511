// RUN: not conveyor opt %s --split-input-file 2>&1 | filecheck %s

// Every verifier error names the op and the value, at the op's place in this file.
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x4xi8>
  %w = graph.const {value = dense<1> : tensor<5x3xi8>} : tensor<5x3xi8>
  // CHECK: verify_errors.mlir:[[# @LINE + 1]]:8: graph.matmul %y: x %x has K=4 columns but w %w has 5 rows
  %y = graph.matmul %x, %w : tensor<2x3xi32>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x4xi8>
  %w = graph.const {value = dense<1> : tensor<4x3xi8>} : tensor<4x3xi8>
  %b = graph.const {value = dense<1> : tensor<3xi32>} : tensor<3xi32>
  // CHECK: graph.linear %y: mul has 2 per-channel values but the result has 3 channels
  %y = graph.linear %x, %w, %b {mul = [1, 2], shift = 0, zp = 0, relu = false, rounding = "double"} : tensor<2x3xi8>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x4xi8>
  %w = graph.const {value = dense<1> : tensor<4x3xi8>} : tensor<4x3xi8>
  %b = graph.const {value = dense<1> : tensor<3xi32>} : tensor<3xi32>
  // CHECK: graph.linear %y: shift 32 is out of range 0..31
  %y = graph.linear %x, %w, %b {mul = 1, shift = 32, zp = 0, relu = false, rounding = "double"} : tensor<2x3xi8>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x4xi8>
  // CHECK: graph.relu %r: zp 128 is out of range -128..127
  %r = graph.relu %x {zp = 128} : tensor<2x4xi8>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<5x4x3xi8>
  // CHECK: graph.maxpool2x2 %p: x %x is 5x4: maxpool2x2 needs an even height and width
  %p = graph.maxpool2x2 %x : tensor<2x2x3xi8>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x4xi8>
  %w = graph.const {value = dense<1> : tensor<4x3xi32>} : tensor<4x3xi32>
  // CHECK: graph.matmul %y: w %w must be i8, not tensor<4x3xi32>
  %y = graph.matmul %x, %w : tensor<2x3xi32>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x4xi8>
  // CHECK: graph.add %s: result type is tensor<2x4xi32> but the operands give tensor<2x4xi8>
  %s = graph.add %x, %x {mul = 1, shift = 0, zp = 0, relu = false} : tensor<2x4xi32>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<6xi8>
  // CHECK: graph.reshape %r: shape [4, 2] has 8 elements but x %x (tensor<6xi8>) has 6
  %r = graph.reshape %x {shape = [4, 2]} : tensor<4x2xi8>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<6xi8>
  // CHECK: graph.relu %r: missing attribute 'zp'
  %r = graph.relu %x : tensor<6xi8>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<6xi8>
  %y = graph.input {name = "x"} : tensor<6xi8>
  // CHECK: graph.input %y: there is already an input named 'x'
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<6x6x1xi8>
  %w = graph.const {value = dense<1> : tensor<3x3x1x1xi8>} : tensor<3x3x1x1xi8>
  %b = graph.const {value = dense<1> : tensor<1xi32>} : tensor<1xi32>
  // CHECK: graph.conv2d %c: stride must be at least 1, not 0
  %c = graph.conv2d %x, %w, %b {stride = 0, pad = 0, pad_value = 0, mul = 1, shift = 0, zp = 0, relu = false, rounding = "double"} : tensor<4x4x1xi8>
}
