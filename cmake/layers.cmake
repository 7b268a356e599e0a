# The layers of src/ (docs/architecture.md, "Layers"): each folder
# src/LAYER/ holds its headers beside its sources, and code includes them as
# <wsrelay/LAYER/x.hpp>. A layer's include root holds that one folder and
# nothing else (a link wsrelay/LAYER -> src/LAYER in the build tree), so a
# library sees the headers of the layers it links and no others: an include
# of a layer above it does not compile.

# Sets `out` to the include root of `layer` of the checkout at `root`,
# creating it under `build_dir` on first use.
function(wsrelay_layer_root root build_dir layer out)
  set(dir ${build_dir}/layers/${layer})
  if(NOT IS_SYMLINK ${dir}/wsrelay/${layer})
    file(MAKE_DIRECTORY ${dir}/wsrelay)
    file(CREATE_LINK ${root}/src/${layer} ${dir}/wsrelay/${layer} SYMBOLIC)
  endif()
  set(${out} ${dir} PARENT_SCOPE)
endfunction()
