/* Adversarial: spins forever; stopped by fuel (fuel_exhausted) or the wall clock (timeout). */
int main(void) {
    volatile unsigned long counter = 0;
    for (;;) counter++;
}
