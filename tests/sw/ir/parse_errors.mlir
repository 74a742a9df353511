// RUN: not conveyor opt %s --split-input-file 2>&1 | filecheck %s

module @e attributes {level = "graph"} {
  // CHECK: parse_errors.mlir:[[# @LINE + 1]]:8: unknown op 'graph.nope'
  %x = graph.nope {name = "x"} : tensor<2x4xi8>
}

// -----
module @e attributes {level = "graph"} {
  // CHECK: parse_errors.mlir:[[# @LINE + 1]]:19: use of undefined value %z
  %r = graph.relu %z {zp = 0} : tensor<2x4xi8>
}

// -----
module @e attributes {level = "graph"} {
  // CHECK: parse_errors.mlir:[[# @LINE + 1]]:35: unknown element type 'i7'
  %x = graph.input {name = "x"} : tensor<2x4xi7>
}

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x4xi8>
  // CHECK: parse_errors.mlir:[[# @LINE + 1]]:3: value %x is defined twice
  %x = graph.relu %x {zp = 0} : tensor<2x4xi8>
}

// -----
module @e attributes {level = "graph"} {
  // CHECK: parse_errors.mlir:[[# @LINE + 1]]:29: dense data has 3 elements but tensor<2xi32> needs 2
  %b = graph.const {value = dense<[1, 2, 3]> : tensor<2xi32>} : tensor<2xi32>
}

// -----
module @e attributes {level = "graph"} {
  // CHECK: parse_errors.mlir:[[# @LINE + 1]]:28: expected an attribute value, found '}'
  %x = graph.input {name = } : tensor<2x4xi8>
}

// -----
module @e attributes {level = "graph"} {
  // CHECK: parse_errors.mlir:[[# @LINE + 1]]:3: graph.input has 1 result names but 0 result types
  %x = graph.input {name = "x"}
}

// -----
// CHECK: parse_errors.mlir:[[# @LINE + 1]]:8: expected a module name like @mlp, found '{'
module { }

// -----
module @e attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x4xi8>
// CHECK: parse_errors.mlir:[[# @LINE + 1]]:1: expected '}' to close the module, found end of input
