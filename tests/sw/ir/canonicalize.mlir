// RUN: conveyor opt %s --passes canonicalize | filecheck %s

// Identity reshapes go, reshape chains become one reshape, unused constants and ops go;
// inputs stay even when unused (they are the graph's interface).
// CHECK-LABEL: module @canon
// CHECK-NEXT:  %x = graph.input {name = "x"} : tensor<2x3x4xi8>
// CHECK-NEXT:  %unused = graph.input {name = "unused"} : tensor<4xi8>
// CHECK-NEXT:  %c = graph.reshape %x {shape = [6, 4]} : tensor<6x4xi8>
// CHECK-NEXT:  graph.output %x {name = "same"}
// CHECK-NEXT:  graph.output %c {name = "flat"}
// CHECK-NEXT: }
module @canon attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x3x4xi8>
  %unused = graph.input {name = "unused"} : tensor<4xi8>
  %dead = graph.const {value = dense<7> : tensor<4xi32>} : tensor<4xi32>
  %deadop = graph.relu %x {zp = 0} : tensor<2x3x4xi8>
  %same = graph.reshape %x {shape = [2, 3, 4]} : tensor<2x3x4xi8>
  %a = graph.reshape %same {shape = [24]} : tensor<24xi8>
  %b = graph.reshape %a {shape = [4, 6]} : tensor<4x6xi8>
  %c = graph.reshape %b {shape = [6, 4]} : tensor<6x4xi8>
  graph.output %same {name = "same"}
  graph.output %c {name = "flat"}
}
