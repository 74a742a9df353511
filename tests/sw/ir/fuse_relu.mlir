// RUN: conveyor opt %s --split-input-file --passes fuse-relu | filecheck %s

// A relu after linear, conv2d or add with the same zero point becomes the producer's relu flag.
// CHECK-LABEL: module @fuse
module @fuse attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<2x4xi8>
  %w = graph.const {value = dense<[[1, 2, 3], [4, 5, 6], [7, 8, 9], [-1, -2, -3]]> : tensor<4x3xi8>} : tensor<4x3xi8>
  %b = graph.const {value = dense<[10, -20, 30]> : tensor<3xi32>} : tensor<3xi32>
  // CHECK:      %y = graph.linear %x, %w, %b {mul = 1073741824, shift = 2, zp = -3, relu = true, rounding = "double"} : tensor<2x3xi8>
  // CHECK-NEXT: %s = graph.add %y, %y {mul = 1073741824, shift = 0, zp = 0, relu = true} : tensor<2x3xi8>
  // CHECK-NEXT: graph.output %s {name = "y"}
  %y = graph.linear %x, %w, %b {mul = 1073741824, shift = 2, zp = -3, relu = false, rounding = "double"} : tensor<2x3xi8>
  %r = graph.relu %y {zp = -3} : tensor<2x3xi8>
  %s = graph.add %r, %r {mul = 1073741824, shift = 0, zp = 0, relu = false} : tensor<2x3xi8>
  %t = graph.relu %s {zp = 0} : tensor<2x3xi8>
  graph.output %t {name = "y"}
}

// -----

// conv2d folds too; a relu with another zero point, after a value with another user, or after
// a relu or a matmul stays.
// CHECK-LABEL: module @keep
module @keep attributes {level = "graph"} {
  %x = graph.input {name = "x"} : tensor<4x4x1xi8>
  %w = graph.const {value = dense<1> : tensor<3x3x1x2xi8>} : tensor<3x3x1x2xi8>
  %b = graph.const {value = dense<0> : tensor<2xi32>} : tensor<2xi32>
  %w2 = graph.const {value = dense<-1> : tensor<3x3x2x2xi8>} : tensor<3x3x2x2xi8>
  // CHECK:      %c0 = graph.conv2d %x, %w, %b {stride = 1, pad = 1, pad_value = 0, mul = 1073741824, shift = 1, zp = 0, relu = true, rounding = "double"}
  // CHECK-NEXT: %d = graph.conv2d %c0, %w2, %b {{.*}} zp = 5, relu = false, rounding = "double"} : tensor<4x4x2xi8>
  // CHECK-NEXT: %r0 = graph.relu %d {zp = 4}
  // CHECK-NEXT: %r1 = graph.relu %d {zp = 5}
  // CHECK-NEXT: %r2 = graph.relu %r1 {zp = 5}
  // CHECK:      %m = graph.matmul
  // CHECK-NEXT: %r3 = graph.relu %m {zp = 0} : tensor<16x2xi32>
  %c0 = graph.conv2d %x, %w, %b {stride = 1, pad = 1, pad_value = 0, mul = 1073741824, shift = 1, zp = 0, relu = false, rounding = "double"} : tensor<4x4x2xi8>
  %c = graph.relu %c0 {zp = 0} : tensor<4x4x2xi8>
  %d = graph.conv2d %c, %w2, %b {stride = 1, pad = 1, pad_value = 0, mul = 1073741824, shift = 1, zp = 5, relu = false, rounding = "double"} : tensor<4x4x2xi8>
  %r0 = graph.relu %d {zp = 4} : tensor<4x4x2xi8>
  %r1 = graph.relu %d {zp = 5} : tensor<4x4x2xi8>
  %r2 = graph.relu %r1 {zp = 5} : tensor<4x4x2xi8>
  %f = graph.reshape %r2 {shape = [16, 2]} : tensor<16x2xi8>
  %v = graph.const {value = dense<1> : tensor<2x2xi8>} : tensor<2x2xi8>
  %m = graph.matmul %f, %v : tensor<16x2xi32>
  %r3 = graph.relu %m {zp = 0} : tensor<16x2xi32>
  graph.output %r0 {name = "a"}
  graph.output %r3 {name = "b"}
}
