// RUN: conveyor opt %s --passes fuse-relu,canonicalize,verify --print-ir-after-all 2>&1 >/dev/null | filecheck %s

// CHECK:      // -----// IR Dump After fuse-relu //----- //
// CHECK-NEXT: module @dump attributes {level = "graph"} {
// CHECK:        graph.add %x, %x {{.*}} relu = true}
// CHECK:        graph.reshape
// CHECK:      // -----// IR Dump After canonicalize //----- //
// CHECK-NOT:    graph.reshape
// CHECK:      // -----// IR Dump After verify //----- //
// CHECK-NEXT: module @dump
module @dump attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<8xi8>
  %s = graph.add %x, %x {mul = [1, 2, 3, 4, 5, 6, 7, 8], shift = 0, zp = 0, relu = false} : tensor<8xi8>
  %r = graph.relu %s {zp = 0} : tensor<8xi8>
  %t = graph.reshape %r {shape = [8]} : tensor<8xi8>
  graph.output %t {name = "y"}
}
