# Embed a text file as a C string: cmake -DIN=file -DOUT=header -DNAME=symbol -P embed.cmake
file(READ "${IN}" content)
string(REPLACE "\\" "\\\\" content "${content}")
string(REPLACE "\"" "\\\"" content "${content}")
string(REPLACE "\n" "\\n\"\n\"" content "${content}")
file(WRITE "${OUT}" "/* Generated from ${IN} at build time; do not edit. */\nstatic const char ${NAME}[] =\n\"${content}\";\n")
