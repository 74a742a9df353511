// RUN: conveyor opt %s -c tiny --passes lower-to-tile | filecheck %s

// A linear becomes a tensor per value, preloaded weight words, and one tile.matmul whose
// activation table names the word every (row, K tile) multiplies; an int8 result takes the
// requant epilogue with the bias as four byte planes next to the VXM.
// CHECK-LABEL: module @lin attributes {level = "tile", target = {name = "tiny", lanes = 4, streams = 4,
// CHECK:       %x = tile.tensor {name = "x", dtype = "i8", shape = [3, 6], rows = 3, at = "{{mem[0-9]@[0-9]+}} {{mem[0-9]@[0-9]+}}"}
// CHECK:       tile.input %x {name = "x"}
// CHECK:       %y = tile.tensor {name = "y", dtype = "i8", shape = [3, 5]
// CHECK:       tile.matmul %y {rows = 3, ktiles = 2, ntiles = 2, act = dense<"0x{{[0-9A-F]+}}"> : tensor<3x2x2xi32>
// CHECK-SAME:  epilogue = "requant", bias = "{{[a-z0-9@,]+ [a-z0-9@,]+}}"
// CHECK-SAME:  mul = 1073741824, shift = 3, zp = -2, relu = true, mxm = "mxm0", vxm = "vxm0", macs = 90}
// CHECK-NEXT:  tile.output %y {name = "y", shape = [3, 5], columns = [0, 5]}
module @lin attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<3x6xi8>
  %w = graph.const {value = dense<3> : tensor<6x5xi8>} : tensor<6x5xi8>
  %b = graph.const {value = dense<[1, 2, 3, 4, 5]> : tensor<5xi32>} : tensor<5xi32>
  %y = graph.linear %x, %w, %b {mul = 1073741824, shift = 3, zp = -2, relu = true, rounding = "double"} : tensor<3x5xi8>
  graph.output %y {name = "y"}
}
