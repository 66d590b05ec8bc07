# SOCKIT_SANITIZE=address,undefined turns sanitizers on for everything built in this tree.
if(SOCKIT_SANITIZE)
  add_compile_options(-fsanitize=${SOCKIT_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${SOCKIT_SANITIZE})
endif()
