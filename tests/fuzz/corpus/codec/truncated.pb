
b1regasorg-a"n
s1t1WK00802